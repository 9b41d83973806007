/**
 * The processor: drives one run from prompt to summary. It streams provider output into
 * message parts, executes tool calls, and ends with exactly one summary. Journal order is the
 * spine's: `run.started` before the provider is called, `tool.started` (with its side-effect
 * kind) before a tool runs, the first visible output when it is shown, `run.finished` last.
 */
import { newId } from "../id.ts"
import { deriveIncidentChains } from "../provenance/incident-chain.ts"
import type { Redactor } from "../provenance/node/redaction.ts"
import type { ErrorFact, IncidentChain, LifecycleAction, RunSummary, ToolFact } from "../provenance/schemas.ts"
import type { RunOutcome } from "../provenance/classification.ts"
import type { ChatMessage, ToolCallRequest } from "../provider/provider.ts"
import type { ProviderRegistry, ResolvedModel } from "../provider/registry.ts"
import { recordedToolCall, toolSpecs } from "../tool/registry.ts"
import { ToolError, type Tool } from "../tool/tool.ts"
import { InstanceError } from "./instance-error.ts"
import type { EventBus } from "../bus/index.ts"
import type { Journal } from "../storage/journal.ts"
import { buildRunSummary, fallbackRunSummary, recordedModel, type SummaryInput } from "./run-observability/summary.ts"
import { type RunHolder, RunState } from "./run-state.ts"
import {
  type MessageInfo,
  type MessagePosition,
  type Part,
  publicSession,
  type SessionInfo,
  type SessionStore,
} from "./session-store.ts"

interface ProcessorOptions {
  journal: Journal
  bus: EventBus
  sessions: SessionStore
  providers: ProviderRegistry
  tools: Tool[]
  redactor: Redactor
  /** No provider progress for this long trips the watchdog. */
  watchdogMs: number
  /** Lifecycle actions by id, for the incident attached to `run.finished`. */
  lifecycleRecords: (ids: string[]) => LifecycleAction[]
}

export class RunConflictError extends Error {
  readonly code = "run_active"
}

const MAX_TURNS = 8
/** Earlier messages with text sent to the provider with each prompt. */
const HISTORY_MESSAGES = 40

export class Processor {
  private readonly active = new Map<string, RunState>()
  /** Runs whose summary has been written (a failure after that must not write a second one). */
  private readonly summarized = new Set<string>()

  constructor(private readonly options: ProcessorOptions) {}

  activeRun(sessionId: string): RunState | undefined {
    return this.active.get(sessionId)
  }

  activeRuns(): RunState[] {
    return [...this.active.values()]
  }

  /**
   * Starts a run in `instance`. Synchronous up to registering the run, so a run can never be
   * born into an instance that is already closing. Throws for a bad model (400), an active
   * run (409) or a closing instance (409).
   */
  start(
    instance: RunHolder,
    session: SessionInfo,
    text: string,
    modelRef: string | undefined,
    options: { resendOf?: string } = {},
  ): RunState {
    const resolved = this.options.providers.resolve(modelRef)
    if (instance.state !== "open")
      throw new InstanceError("instance_closing", "the project instance is closing; try again")
    if (this.active.has(session.id)) throw new RunConflictError("this session already has an active run")
    const { journal, sessions } = this.options
    const runId = newId("run")
    const startedAt = Date.now()
    const ref = { instanceId: instance.instanceId, generation: instance.generation }
    const run = new RunState(
      runId,
      session.id,
      ref,
      instance.directoryKey,
      resolved.ref,
      startedAt,
      this.options.watchdogMs,
      () => journal.nextSeq(),
    )
    const { resendOf } = options
    run.resendOf = resendOf
    const link = resendOf ? { resendOf } : {}
    // Durable before the provider is called: a crash from here on still leaves an incident.
    journal.append(
      "run.started",
      { runId, sessionId: session.id },
      { runId, sessionId: session.id, instance: ref, model: recordedModel(resolved.ref), startedAt, ...link },
    )
    // Storage faults never stop a run: the journal retries the write when the disk accepts it again.
    journal.write(
      () =>
        sessions.insertRun({
          runId,
          sessionId: session.id,
          directoryKey: instance.directoryKey,
          instanceId: ref.instanceId,
          generation: ref.generation,
          model: resolved.ref,
          bootId: journal.bootId,
          startedAt,
          ...link,
        }),
      `run:${runId}:start`,
    )
    this.active.set(session.id, run)
    // Never rejects: nothing awaits a prompt's run, so a rejection here would end the process.
    const settled = this.execute(run, session, text, resolved)
      .catch((err) => this.settleAfterFailure(run, session, err))
      .finally(() => {
        instance.runs.delete(runId)
        this.summarized.delete(runId)
        if (this.active.get(session.id) === run) this.active.delete(session.id)
      })
    instance.runs.set(runId, { state: run, settled })
    this.options.bus.publish({
      type: "run.started",
      properties: {
        runId,
        sessionID: session.id,
        model: resolved.ref,
        startedAt,
        directoryKey: instance.directoryKey,
        ...link,
      },
      directoryKey: instance.directoryKey,
    })
    this.publishStatus(session, "busy")
    return run
  }

  /** Writes the summary of a run that did not settle when its instance closed (never silence). */
  finalizeUnsettled(run: RunState): void {
    if (!run.finish()) return
    const summary = this.summarize(run, { outcome: "aborted", abortedBeforeFinish: true })
    this.record(
      { ...summary, classification: "unknown_interrupt", missing: ["run_summary"], closeSite: "settle_timeout" },
      undefined,
    )
  }

  /** The run's summary, or its fallback when building it fails: a run never ends without one. */
  private summarize(run: RunState, input: Omit<SummaryInput, "run" | "seq">): RunSummary {
    const seq = this.options.journal.nextSeq()
    try {
      return buildRunSummary({ ...input, run, seq })
    } catch (err) {
      logFailure("run summary could not be built", err, this.options.redactor)
      return fallbackRunSummary(run, {
        seq,
        closeSite: "summary_build_failed",
        ...(input.finishedAt !== undefined ? { finishedAt: input.finishedAt } : {}),
      })
    }
  }

  /**
   * A run whose own handling threw: its summary is written here (a fallback naming where it was
   * lost) unless one already was, and the session goes idle. Never throws.
   */
  private settleAfterFailure(run: RunState, session: SessionInfo, err: unknown): void {
    logFailure("run ended outside its own handling", err, this.options.redactor)
    try {
      if (!run.finish() && this.summarized.has(run.runId)) return
      this.record(
        fallbackRunSummary(run, { seq: this.options.journal.nextSeq(), closeSite: "run_failed_unhandled" }),
        session,
      )
    } catch (again) {
      logFailure("fallback run summary could not be written", again, this.options.redactor)
    }
  }

  private async execute(run: RunState, session: SessionInfo, text: string, resolved: ResolvedModel): Promise<void> {
    const { sessions } = this.options
    const directoryKey = run.directoryKey
    const history = this.history(session.id)
    const user = this.createMessage({ sessionID: session.id, role: "user", runId: run.runId })
    this.savePart({ id: newId("prt"), sessionID: session.id, messageID: user.id, type: "text", text }, 0, directoryKey)
    this.publishMessage(this.completeMessage(user), directoryKey)
    const [providerID, ...rest] = resolved.ref.split("/")
    const assistant = this.createMessage({
      sessionID: session.id,
      role: "assistant",
      runId: run.runId,
      providerID: providerID!,
      modelID: rest.join("/"),
    })
    this.publishMessage(assistant, directoryKey)
    this.options.journal.write(() => sessions.touchSession(session.id), `touch:${session.id}`)

    const messages: ChatMessage[] = [...history, { role: "user", content: text }]
    let outcome: RunOutcome = "completed"
    let error: ErrorFact | undefined
    let ord = 0
    const watchdog = new Watchdog(run)
    try {
      for (let turn = 0; turn < MAX_TURNS; turn++) {
        run.phase = "provider_waiting"
        watchdog.arm()
        let textPart: Extract<Part, { type: "text" }> | undefined
        const calls: ToolCallRequest[] = []
        let answer = ""
        for await (const event of resolved.provider.stream({
          model: resolved.model,
          messages,
          tools: toolSpecs(this.options.tools),
          signal: run.signal,
        })) {
          const now = Date.now()
          run.provider.chunks++
          run.provider.progress = true
          run.provider.firstOutputAt ??= now
          run.provider.lastOutputAt = now
          watchdog.arm()
          if (event.type === "text") {
            run.phase = "provider_streaming"
            if (!textPart)
              textPart = { id: newId("prt"), sessionID: session.id, messageID: assistant.id, type: "text", text: "" }
            textPart.text += event.text
            answer += event.text
            this.savePart(textPart, ord, directoryKey, event.text)
            if (!run.visibleOutput && event.text.length > 0) {
              run.visibleOutput = true
              this.options.journal.append(
                "run.visible_output",
                { runId: run.runId, sessionId: session.id },
                { runId: run.runId, at: now },
              )
            }
          } else if (event.type === "tool_call") {
            calls.push(event.call)
          }
        }
        if (textPart) ord++
        if (calls.length === 0) break
        messages.push({ role: "assistant", content: answer, toolCalls: calls })
        for (const call of calls) {
          watchdog.disarm()
          const output = await this.runTool(run, call, session, assistant, ord++, directoryKey)
          messages.push({ role: "tool", toolCallId: call.id, content: output })
        }
      }
    } catch (err) {
      // Whether this error or the signal's interrupt is the cause is decideStop's call, in the summary.
      outcome = err instanceof ToolRunFailure ? "tool_error" : "provider_error"
      error = this.options.redactor.errorFact(err instanceof ToolRunFailure ? err.cause : err)
    } finally {
      watchdog.disarm()
    }
    run.phase = "finishing"
    const abortedBeforeFinish = run.signal.aborted
    if (!run.finish()) return
    const summary = this.summarize(run, { outcome, abortedBeforeFinish, error })
    this.publishMessage(this.completeMessage(assistant), directoryKey)
    this.record(summary, session)
  }

  private async runTool(
    run: RunState,
    call: ToolCallRequest,
    session: SessionInfo,
    assistant: MessageInfo,
    ord: number,
    directoryKey: string,
  ): Promise<string> {
    const tool = this.options.tools.find((candidate) => candidate.name === call.name)
    const recorded = recordedToolCall(call, this.options.tools, this.options.redactor.digest)
    const part: Extract<Part, { type: "tool" }> = {
      id: newId("prt"),
      sessionID: session.id,
      messageID: assistant.id,
      type: "tool",
      callID: recorded.callId,
      tool: recorded.name,
      state: { status: "running" },
      // The transcript shows which file a tool call touched; diagnostics exports leave it out.
      ...(typeof (call.input as { path?: unknown } | undefined)?.path === "string"
        ? { path: String((call.input as { path: string }).path).slice(0, 256) }
        : {}),
    }
    if (!tool) {
      part.state = { status: "error" }
      this.savePart(part, ord, directoryKey)
      return `unknown tool ${call.name.slice(0, 64)}`
    }
    run.phase = "tool_running"
    const fact: ToolFact = {
      callId: part.callID,
      name: tool.name,
      kind: tool.kind,
      startedAt: Date.now(),
      status: "running",
    }
    run.tools.push(fact)
    // Before the tool runs: a crash mid-tool still shows that a side effect may have happened.
    this.options.journal.append(
      "tool.started",
      { runId: run.runId, sessionId: session.id },
      { runId: run.runId, callId: fact.callId, name: fact.name, kind: fact.kind, startedAt: fact.startedAt },
    )
    this.savePart(part, ord, directoryKey)
    try {
      const result = await tool.execute(call.input, { directory: directoryKey, signal: run.signal })
      fact.status = "completed"
      fact.completedAt = Date.now()
      part.state = { status: "completed" }
      return result.output
    } catch (err) {
      fact.status = run.signal.aborted ? "interrupted" : "error"
      fact.completedAt = Date.now()
      part.state = { status: "error" }
      if (run.signal.aborted) throw err
      // An invalid input is the model's mistake to see and correct; anything else ends the run.
      if (err instanceof ToolError && err.code === "invalid_input") return err.message
      throw new ToolRunFailure(err)
    } finally {
      this.options.journal.append(
        "tool.finished",
        { runId: run.runId, sessionId: session.id },
        { runId: run.runId, callId: fact.callId, status: fact.status },
      )
      this.savePart(part, ord, directoryKey)
    }
  }

  private record(summary: RunSummary, session: SessionInfo | undefined): void {
    const { journal, sessions, bus } = this.options
    // One transaction: a kill between the two would leave a journalled end on a run row that reads as a crash.
    journal.appendWith("run.finished", { runId: summary.runId, sessionId: summary.sessionId }, summary, () =>
      sessions.finishRun(summary),
    )
    this.summarized.add(summary.runId)
    let incident: IncidentChain | undefined
    if (summary.classification !== "completed") incident = this.incidentOf(summary)
    bus.publish({
      type: "run.finished",
      properties: { summary, ...(incident ? { incident } : {}) },
      directoryKey: summary.directoryKey,
    })
    const info = session ?? sessions.getSession(summary.sessionId)
    if (info) this.publishStatus(info, "idle")
  }

  private incidentOf(summary: RunSummary): IncidentChain | undefined {
    const ids = summary.interrupt?.lifecycle
      ? [summary.interrupt.lifecycle.lifecycleId, summary.interrupt.lifecycle.rootId]
      : []
    try {
      return deriveIncidentChains({
        runs: [summary],
        lifecycle: this.options.lifecycleRecords(ids),
        requests: [],
        renderer: [],
        crashes: [],
      })[0]
    } catch {
      return undefined
    }
  }

  /** The last `HISTORY_MESSAGES` messages with text, read from the newest back: a long session's older pages are never read. */
  private history(sessionId: string): ChatMessage[] {
    const newestFirst: ChatMessage[] = []
    let before: MessagePosition | undefined
    do {
      const read = this.options.sessions.messagePageBefore(sessionId, before, HISTORY_MESSAGES)
      for (let i = read.messages.length - 1; i >= 0 && newestFirst.length < HISTORY_MESSAGES; i--) {
        const message = read.messages[i]!
        const content = message.parts.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("")
        if (content) newestFirst.push({ role: message.info.role, content })
      }
      before = read.next
    } while (before && newestFirst.length < HISTORY_MESSAGES)
    return newestFirst.reverse()
  }

  /** A message row, written through the journal's fault handling (the message exists in memory either way). */
  private createMessage(info: Omit<MessageInfo, "id" | "time">): MessageInfo {
    const message: MessageInfo = { ...info, id: newId("msg"), time: { created: Date.now() } }
    this.options.journal.write(() => this.options.sessions.insertMessage(message), `msg:${message.id}`)
    return message
  }

  private completeMessage(message: MessageInfo): MessageInfo {
    const completed = { ...message, time: { ...message.time, completed: Date.now() } }
    this.options.journal.write(
      () => this.options.sessions.completeMessage(message, completed.time.completed),
      `msg:${message.id}:done`,
    )
    return completed
  }

  private savePart(part: Part, ord: number, directoryKey: string, delta?: string): void {
    this.options.journal.write(() => this.options.sessions.savePart(part, ord), `part:${part.id}`)
    this.options.bus.publish({
      type: "message.part.updated",
      properties: { part, ...(delta !== undefined ? { delta } : {}) },
      directoryKey,
    })
  }

  private publishMessage(info: MessageInfo, directoryKey: string): void {
    this.options.bus.publish({ type: "message.updated", properties: { info }, directoryKey })
  }

  private publishStatus(session: SessionInfo, status: "busy" | "idle"): void {
    const { bus, sessions } = this.options
    bus.publish({
      type: "session.status",
      properties: { sessionID: session.id, status: { type: status } },
      directoryKey: session.directoryKey,
    })
    if (status === "idle")
      bus.publish({ type: "session.idle", properties: { sessionID: session.id }, directoryKey: session.directoryKey })
    const info = sessions.getSession(session.id)
    if (info)
      bus.publish({
        type: "session.updated",
        properties: { info: publicSession(info, sessions) },
        directoryKey: session.directoryKey,
      })
  }
}

/** Logs a failure by its code and class only: its message may quote a prompt or a tool input. */
function logFailure(what: string, err: unknown, redactor: Redactor): void {
  const fact = redactor.errorFact(err)
  console.error(`${what}: ${fact.class} (${fact.code})`)
}

class ToolRunFailure extends Error {
  constructor(override readonly cause: unknown) {
    super("tool failed")
  }
}

/** Fires when the provider makes no progress for the run's watchdog timeout. */
class Watchdog {
  private timer: NodeJS.Timeout | undefined
  constructor(private readonly run: RunState) {}
  arm(): void {
    this.disarm()
    const ms = this.run.watchdog.timeoutMs
    if (!ms) return
    this.timer = setTimeout(() => this.run.abort({ kind: "watchdog" }), ms)
    this.timer.unref?.()
  }
  disarm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}
