/**
 * Forwarded runs. A prompt sent to a remote workspace runs there; this server keeps a local
 * record of it by following the remote's `/event` stream until the run finishes. A run the
 * remote reports interrupted, or whose stream the remote closes first, is `remote_interrupted`
 * with a `forwarded_remote` origin: the remote initiator is not known here. The remote's own
 * chain, when it sends one, is kept beside it as remote-reported evidence, after the same
 * schema and re-check an imported file gets.
 */
import type { Host } from "../host.ts"
import { recheckChain } from "../provenance/incident-chain.ts"
import { deriveRetry } from "../provenance/retry.ts"
import { IncidentChain, RunSummary, ToolFact } from "../provenance/schemas.ts"
import { sseData } from "../provider/openai.ts"

export interface RemoteWatchTarget {
  workspaceId: string
  baseUrl: string
  sessionId: string
  directoryHeader?: string | undefined
  /** The model the forwarded prompt named, when it named one. */
  model?: string | undefined
}

interface RemoteEvent {
  type?: string
  properties?: Record<string, unknown>
}

/** Follows one remote session's events; `expect` names the run once the forwarded prompt answers. */
export class RemoteRunWatch {
  private readonly controller = new AbortController()
  private readonly started = new Map<string, { model: string; startedAt: number }>()
  private expected: string | undefined
  private finished = false
  private cancelled = false
  readonly ready: Promise<void>
  private markReady!: () => void

  constructor(
    private readonly host: Host,
    private readonly target: RemoteWatchTarget,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve))
    void this.follow()
  }

  /** The run id the remote answered the prompt with (absent for `prompt_async`: the first run that starts). */
  expect(runId: string | undefined): void {
    this.expected = runId
    if (runId && !this.started.has(runId)) this.recordStart(runId, { model: this.promptedModel, startedAt: Date.now() })
  }

  cancel(): void {
    this.cancelled = true
    this.controller.abort()
  }

  /** The model the forwarded prompt named, or `remote/unknown`: used until the remote says which it ran. */
  private get promptedModel(): string {
    return this.target.model ?? "remote/unknown"
  }

  private async follow(): Promise<void> {
    const { baseUrl, directoryHeader } = this.target
    let finishedCleanly = false
    try {
      const response = await fetch(new URL("/event", baseUrl), {
        headers: { accept: "text/event-stream", ...(directoryHeader ? { "x-opencode-directory": directoryHeader } : {}) },
        signal: this.controller.signal,
      })
      if (!response.ok || !response.body) throw new Error("remote event stream refused")
      for await (const data of sseData(response.body, this.controller.signal)) {
        let event: RemoteEvent
        try {
          event = JSON.parse(data) as RemoteEvent
        } catch {
          continue
        }
        if (event.type === "server.connected") this.markReady()
        if (this.onEvent(event)) {
          finishedCleanly = true
          break
        }
      }
    } catch {
      // The remote closed or dropped the stream: handled below as a remote interrupt.
    } finally {
      this.markReady()
      this.controller.abort()
    }
    if (!finishedCleanly && !this.cancelled) this.streamClosed()
  }

  /** True when the watched run finished. */
  private onEvent(event: RemoteEvent): boolean {
    const props = event.properties ?? {}
    if (event.type === "run.started" && props.sessionID === this.target.sessionId && typeof props.runId === "string") {
      if (!this.expected) this.expected = props.runId
      if (props.runId === this.expected) {
        this.recordStart(props.runId, { model: typeof props.model === "string" ? props.model : this.promptedModel, startedAt: Date.now() })
      }
      return false
    }
    if (event.type === "run.finished") {
      const summary = RunSummary.safeParse(props.summary)
      if (!summary.success || summary.data.sessionId !== this.target.sessionId) return false
      if (this.expected && summary.data.runId !== this.expected) return false
      this.expected ??= summary.data.runId
      this.recordFinish(summary.data.runId, summary.data, props.incident)
      return true
    }
    return false
  }

  private recordStart(runId: string, info: { model: string; startedAt: number }): void {
    if (this.started.has(runId)) return
    this.started.set(runId, info)
    const { host, target } = this
    const directoryKey = `workspace:${target.workspaceId}`
    host.sessions.ensureRemoteSession({ id: target.sessionId, directory: directoryKey, directoryKey, title: `Remote session (workspace ${target.workspaceId})` })
    host.journal.append("run.started", { runId, sessionId: target.sessionId }, { runId, sessionId: target.sessionId, workspaceId: target.workspaceId, model: info.model, startedAt: info.startedAt })
    host.sessions.insertRun({ runId, sessionId: target.sessionId, directoryKey, instanceId: `ins_remote_${target.workspaceId}`.slice(0, 68), generation: 1, model: info.model.slice(0, 128), bootId: host.bootId, startedAt: info.startedAt })
  }

  private streamClosed(): void {
    if (this.expected) this.recordFinish(this.expected, undefined, undefined)
  }

  private recordFinish(runId: string, remote: RunSummary | undefined, remoteIncident: unknown): void {
    if (this.finished) return
    this.finished = true
    const { host, target } = this
    const start = this.started.get(runId) ?? { model: this.promptedModel, startedAt: remote?.startedAt ?? Date.now() }
    if (!this.started.has(runId)) this.recordStart(runId, start)
    const completed = remote?.classification === "completed"
    const tools = (remote?.tools ?? []).flatMap((tool) => (ToolFact.safeParse(tool).success ? [tool] : []))
    const toolFactsRecorded = remote !== undefined && remote.toolFactsRecorded
    const now = Date.now()
    const summary = RunSummary.parse({
      runId,
      sessionId: target.sessionId,
      seq: host.journal.nextSeq(),
      directoryKey: `workspace:${target.workspaceId}`,
      model: start.model.slice(0, 128),
      startedAt: start.startedAt,
      finishedAt: now,
      classification: completed ? "completed" : "remote_interrupted",
      ...(completed
        ? {}
        : {
            interrupt: {
              kind: "remote",
              seq: host.journal.nextSeq(),
              at: now,
              runId,
              sessionId: target.sessionId,
              workspaceId: target.workspaceId,
              phase: remote?.interrupt?.phase ?? "provider_streaming",
              provider: remote?.provider ?? { chunks: 0, progress: false },
              watchdog: remote?.watchdog ?? { fired: false },
              toolExecutionStarted: tools.length > 0,
            },
          }),
      provider: remote?.provider ?? { chunks: 0, progress: false },
      watchdog: remote?.watchdog ?? { fired: false },
      visibleOutput: remote?.visibleOutput ?? false,
      tools,
      toolFactsRecorded,
      retry: deriveRetry({ tools, toolFactsRecorded, visibleOutput: remote?.visibleOutput }),
      missing: [],
    })
    if (!completed) {
      const chain = remoteChain(remoteIncident)
      if (chain) host.journal.append("remote.chain", { runId, sessionId: target.sessionId }, { runId, workspaceId: target.workspaceId, chain })
    }
    host.journal.append("run.finished", { runId, sessionId: target.sessionId }, summary)
    host.sessions.finishRun(summary)
    host.bus.publish({ type: "run.finished", properties: { summary }, directoryKey: summary.directoryKey })
  }
}

/** A remote's chain, through the same allow-list and re-check as an imported file's; never trusted as local evidence. */
export function remoteChain(value: unknown): IncidentChain | undefined {
  const parsed = IncidentChain.safeParse(value)
  if (!parsed.success) return undefined
  const { remote: _nested, ...chain } = parsed.data
  return recheckChain(chain)
}
