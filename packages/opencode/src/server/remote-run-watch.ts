/**
 * Forwarded runs. A prompt sent to a remote workspace runs there; this server keeps a local
 * record of it, from the moment the prompt is forwarded, by following the remote's `/event`
 * stream until the run ends. Two remotes are understood:
 *
 * - this server: `run.started` / `run.finished` (with the remote's summary and chain);
 * - opencode, which names no run: `session.status`, `session.idle`, `message.updated` (the
 *   assistant message's `error` or `time.completed`), `message.part.updated` and
 *   `message.part.delta` (visible output) and `server.instance.disposed`.
 *
 * A run the remote reports interrupted, whose remote instance is disposed, or whose stream
 * closes or goes silent for longer than the idle timeout is `remote_interrupted` with a
 * `forwarded_remote` origin: the remote initiator is not known here. A run still in flight when
 * this server shuts down is finalised then, naming the local shutdown, never left to read as a
 * crash. The remote's own chain, when it sends one, is kept beside it as remote-reported evidence,
 * under the allow-list and caps of an imported file. Every write goes through the journal's fault
 * handling, and nothing here ever throws into the process.
 */
import type { Host } from "../host.ts"
import { newId } from "../id.ts"
import { withProvenance } from "../provenance/completeness.ts"
import { remoteChain } from "../provenance/remote-chain.ts"
import { deriveRetry } from "../provenance/retry.ts"
import { RunSummary, ToolFact, type ShutdownSignal } from "../provenance/schemas.ts"
import { sseData } from "../provider/openai.ts"
import { recordedModel } from "../session/run-observability/summary.ts"
import { builtinTools, recordedToolCall } from "../tool/registry.ts"

interface RemoteWatchTarget {
  workspaceId: string
  baseUrl: string
  sessionId: string
  directoryHeader?: string | undefined
  /** The directory the forwarded request named by `?directory=`, when it used the query. */
  directoryQuery?: string | undefined
  /** The model the forwarded prompt named, when it named one. */
  model?: string | undefined
}

interface RemoteWatchOptions {
  /** No data at all from the remote (events or heartbeats) for this long: the stream is lost. */
  idleMs?: number
}

/** Both this server and opencode send a heartbeat every 10 s; six missed ones mean the stream is gone. */
const REMOTE_WATCH_IDLE_MS = 60_000
const MODEL_REF = /^[A-Za-z0-9_.:/-]{1,128}$/

interface RemoteEvent {
  type?: string
  properties?: Record<string, unknown>
}

/** The watches of each host that have not ended, so shutdown can finalise them. */
const active = new WeakMap<Host, Set<RemoteRunWatch>>()

/**
 * Finalises every forwarded run still followed by `host`, naming the local shutdown, and stops
 * following them. Synchronous: it runs before anything else of the shutdown can be cut short.
 *
 * @example stopRemoteWatches(host, "SIGTERM")
 */
export function stopRemoteWatches(host: Host, signal: ShutdownSignal): void {
  for (const watch of [...(active.get(host) ?? [])]) watch.stopForShutdown(signal)
}

type Ending =
  | { kind: "completed" }
  | { kind: "remote"; summary?: RunSummary | undefined; incident?: unknown }
  | { kind: "shutdown"; signal: ShutdownSignal }

export class RemoteRunWatch {
  private readonly controller = new AbortController()
  /** The local record's run id (the remote's, when it names one first). */
  private runId: string | undefined
  /** The id the remote gives the run, when it speaks this server's protocol. */
  private remoteRunId: string | undefined
  private model: string | undefined
  private startedAt = 0
  private ended = false
  private streamOpen = true
  private visibleOutput = false
  /** opencode's assistant messages of this session seen since the prompt: their outcome. */
  private readonly assistants = new Map<string, { completed: boolean; error: boolean }>()
  private lastAssistant: string | undefined
  private idleTimer: NodeJS.Timeout | undefined
  private readonly idleMs: number
  readonly ready: Promise<void>
  private markReady!: () => void

  constructor(
    private readonly host: Host,
    private readonly target: RemoteWatchTarget,
    options: RemoteWatchOptions = {},
  ) {
    this.idleMs = options.idleMs ?? REMOTE_WATCH_IDLE_MS
    this.model = target.model
    this.ready = new Promise((resolve) => (this.markReady = resolve))
    let set = active.get(host)
    if (!set) active.set(host, (set = new Set()))
    set.add(this)
    this.follow().catch(() => {
      // follow() handles its own failures; this only keeps a bug from becoming an unhandled rejection.
    })
  }

  /**
   * The forwarded prompt was accepted: the run is recorded from now on. `runId` when the remote
   * named one (this server's `prompt`); opencode names none, so a local id is made.
   */
  forwarded(runId: string | undefined): void {
    if (this.ended) return
    if (runId && !this.remoteRunId) this.remoteRunId = runId
    this.guard(() => {
      this.recordStart(this.remoteRunId ?? newId("run"))
      // The stream ended while the prompt was still being answered: the run cannot be followed.
      if (!this.streamOpen) this.end({ kind: "remote" })
    })
  }

  /** The forwarded prompt was refused or never answered: nothing started there, nothing is recorded. */
  cancel(): void {
    if (this.runId) return
    this.release()
  }

  /** This server shuts down: a run in flight is finalised naming the local shutdown. */
  stopForShutdown(signal: ShutdownSignal): void {
    if (this.runId) this.guard(() => this.end({ kind: "shutdown", signal }))
    this.release()
  }

  /** The model as the local records keep it: a prompt or a remote names any string of its shape, a key included. */
  private get promptedModel(): string {
    return recordedModel(this.model ?? "remote/unknown")
  }

  private async follow(): Promise<void> {
    const { baseUrl, directoryHeader, directoryQuery } = this.target
    const url = new URL("/event", new URL(baseUrl).origin)
    if (directoryQuery && !directoryHeader) url.searchParams.set("directory", directoryQuery)
    try {
      this.armIdle()
      const response = await fetch(url, {
        headers: {
          accept: "text/event-stream",
          "x-opencode-forwarded-by": this.host.bootId,
          ...(directoryHeader ? { "x-opencode-directory": directoryHeader } : {}),
        },
        signal: this.controller.signal,
      })
      if (!response.ok || !response.body) throw new Error("remote event stream refused")
      for await (const data of sseData(response.body, this.controller.signal)) {
        this.armIdle()
        let event: RemoteEvent
        try {
          event = JSON.parse(data) as RemoteEvent
        } catch {
          continue
        }
        if (event.type === "server.connected") this.markReady()
        this.guard(() => this.onEvent(event))
        if (this.ended) break
      }
    } catch {
      // The remote closed, dropped or stopped answering the stream: handled below.
    } finally {
      this.streamOpen = false
      this.markReady()
      if (this.idleTimer) clearTimeout(this.idleTimer)
    }
    // A run being followed loses its remote: a remote interrupt. Before the prompt is answered,
    // `forwarded` records the start and sees the stream gone.
    if (this.runId && !this.ended) this.guard(() => this.end({ kind: "remote" }))
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => this.controller.abort(), this.idleMs)
    this.idleTimer.unref()
  }

  private onEvent(event: RemoteEvent): void {
    const props = event.properties ?? {}
    const session = this.target.sessionId
    switch (event.type) {
      // This server's protocol.
      case "run.started":
        if (props.sessionID !== session || typeof props.runId !== "string") return
        if (this.remoteRunId && props.runId !== this.remoteRunId) return
        this.remoteRunId = props.runId
        if (typeof props.model === "string" && MODEL_REF.test(props.model)) this.model = props.model
        this.recordStart(props.runId)
        return
      case "run.finished": {
        const summary = RunSummary.safeParse(props.summary)
        if (!summary.success || summary.data.sessionId !== session) return
        if (this.remoteRunId && summary.data.runId !== this.remoteRunId) return
        this.remoteRunId = summary.data.runId
        this.recordStart(summary.data.runId)
        this.end(
          summary.data.classification === "completed"
            ? { kind: "completed" }
            : { kind: "remote", summary: summary.data, incident: props.incident },
        )
        return
      }
      // opencode's protocol: no run id, only the session's status and its messages.
      case "session.status": {
        const status = (props.status as { type?: unknown } | undefined)?.type
        if (props.sessionID !== session) return
        if (status === "busy") this.recordStart(this.remoteRunId ?? newId("run"))
        else if (status === "idle") this.onIdle()
        return
      }
      case "session.idle":
        if (props.sessionID === session) this.onIdle()
        return
      case "message.updated": {
        const info = props.info as
          | {
              id?: unknown
              role?: unknown
              sessionID?: unknown
              error?: unknown
              time?: { completed?: unknown }
              providerID?: unknown
              modelID?: unknown
            }
          | undefined
        if (!info || info.sessionID !== session || info.role !== "assistant" || typeof info.id !== "string") return
        this.assistants.set(info.id, {
          completed: typeof info.time?.completed === "number",
          error: info.error !== undefined && info.error !== null,
        })
        this.lastAssistant = info.id
        const ref = `${String(info.providerID)}/${String(info.modelID)}`
        if (
          !this.model &&
          typeof info.providerID === "string" &&
          typeof info.modelID === "string" &&
          MODEL_REF.test(ref)
        )
          this.model = ref
        return
      }
      case "message.part.updated": {
        const part = props.part as
          { sessionID?: unknown; messageID?: unknown; type?: unknown; text?: unknown } | undefined
        if (
          part?.sessionID === session &&
          part.type === "text" &&
          typeof part.text === "string" &&
          part.text.length > 0 &&
          this.assistants.has(String(part.messageID))
        ) {
          this.visibleOutput = true
        }
        return
      }
      case "message.part.delta": {
        // opencode 1.18 streams text as deltas of a part first announced empty.
        if (
          props.sessionID === session &&
          props.field === "text" &&
          typeof props.delta === "string" &&
          props.delta.length > 0 &&
          this.assistants.has(String(props.messageID))
        ) {
          this.visibleOutput = true
        }
        return
      }
      case "server.instance.disposed": {
        // This server's runs end with `run.finished`; only an opencode run ends here.
        if (this.remoteRunId || !this.runId) return
        const wanted = this.directory()
        if (wanted === undefined || props.directory === undefined || props.directory === wanted)
          this.end({ kind: "remote" })
        return
      }
    }
  }

  /**
   * opencode went idle. Its answer completed without an error: the run completed. Otherwise
   * (aborted, failed, or no answer at all, as when its instance is disposed) it did not: opencode
   * announces a dispose only after the idle, so idle alone is never taken as a completion.
   */
  private onIdle(): void {
    if (this.remoteRunId || !this.runId) return
    const answer = this.lastAssistant ? this.assistants.get(this.lastAssistant) : undefined
    this.end(answer && answer.completed && !answer.error ? { kind: "completed" } : { kind: "remote" })
  }

  private directory(): string | undefined {
    const raw = this.target.directoryHeader ?? this.target.directoryQuery
    if (raw === undefined) return undefined
    try {
      return decodeURIComponent(raw)
    } catch {
      return raw
    }
  }

  private recordStart(runId: string): void {
    if (this.runId || this.ended) return
    this.runId = runId
    this.startedAt = Date.now()
    const { host, target } = this
    const directoryKey = `workspace:${target.workspaceId}`
    const model = this.promptedModel
    const startedAt = this.startedAt
    host.journal.append(
      "run.started",
      { runId, sessionId: target.sessionId },
      { runId, sessionId: target.sessionId, workspaceId: target.workspaceId, model, startedAt },
    )
    host.journal.write(() => {
      host.sessions.ensureRemoteSession({
        id: target.sessionId,
        directory: directoryKey,
        directoryKey,
        title: `Remote session (workspace ${target.workspaceId})`,
      })
      host.sessions.insertRun({
        runId,
        sessionId: target.sessionId,
        directoryKey,
        instanceId: `ins_remote_${target.workspaceId}`.slice(0, 68),
        generation: 1,
        model,
        bootId: host.bootId,
        startedAt,
      })
    }, `run:${runId}:start`)
  }

  private end(ending: Ending): void {
    if (this.ended || !this.runId) return
    this.ended = true
    const { host, target } = this
    const runId = this.runId
    const remote = ending.kind === "remote" ? ending.summary : undefined
    // The remote's tool names and call ids are recorded as a local run's are: known names and id-shaped ids, else digests.
    const known = builtinTools()
    const tools = (remote?.tools ?? []).flatMap((tool) => {
      if (!ToolFact.safeParse(tool).success) return []
      const recorded = recordedToolCall({ id: tool.callId, name: tool.name }, known, host.redactor.digest)
      return [{ ...tool, callId: recorded.callId, name: recorded.name }]
    })
    const toolFactsRecorded = remote !== undefined && remote.toolFactsRecorded
    const visibleOutput = remote?.visibleOutput ?? this.visibleOutput
    const provider = remote?.provider ?? { chunks: 0, progress: visibleOutput }
    const watchdog = remote?.watchdog ?? { fired: false }
    const now = Date.now()
    const summary = RunSummary.parse({
      runId,
      sessionId: target.sessionId,
      seq: host.journal.nextSeq(),
      directoryKey: `workspace:${target.workspaceId}`,
      model: this.promptedModel,
      startedAt: this.startedAt,
      finishedAt: now,
      classification: ending.kind === "completed" ? "completed" : "remote_interrupted",
      ...(ending.kind === "completed"
        ? {}
        : {
            interrupt: {
              kind: "remote",
              seq: host.journal.nextSeq(),
              at: now,
              runId,
              sessionId: target.sessionId,
              workspaceId: target.workspaceId,
              ...(ending.kind === "shutdown"
                ? { localStop: withProvenance({ kind: "shutdown", signal: ending.signal }) }
                : {}),
              phase: remote?.interrupt?.phase ?? (visibleOutput ? "provider_streaming" : "provider_waiting"),
              provider,
              watchdog,
              toolExecutionStarted: tools.length > 0,
            },
          }),
      provider,
      watchdog,
      visibleOutput,
      tools,
      toolFactsRecorded,
      retry: deriveRetry({ tools, toolFactsRecorded, visibleOutput }),
      missing: [],
    })
    if (ending.kind === "remote") {
      const chain = remoteChain(ending.incident)
      if (chain)
        host.journal.append(
          "remote.chain",
          { runId, sessionId: target.sessionId },
          { runId, workspaceId: target.workspaceId, chain },
        )
    }
    // One transaction, as a local run's: no kill can leave the journalled end without the run row's.
    host.journal.appendWith("run.finished", { runId, sessionId: target.sessionId }, summary, () =>
      host.sessions.finishRun(summary),
    )
    host.bus.publish({ type: "run.finished", properties: { summary }, directoryKey: summary.directoryKey })
    this.release()
  }

  /** Stops following and forgets the watch. */
  private release(): void {
    this.controller.abort()
    if (this.idleTimer) clearTimeout(this.idleTimer)
    active.get(this.host)?.delete(this)
  }

  /** Records never throw into the stream loop or the caller: a bug costs this record, not the server. */
  private guard(work: () => void): void {
    try {
      work()
    } catch (err) {
      console.error(
        `workspace ${this.target.workspaceId}: the forwarded run's record failed: ${err instanceof Error ? err.name : "error"}`,
      )
    }
  }
}
