/**
 * One run's state and its abort controller. The only sanctioned way to stop a run is
 * `RunState.abort(request)`: the cause (an `InterruptMeta`) is put on the signal as its reason
 * before any finalizer can run, the first abort wins, and every later request is kept
 * (`alsoRequestedBy`) for the same instance generation only. The final state is set once.
 */
import {
  type AlsoRequested,
  type InstanceRef,
  type InterruptMeta,
  type LifecycleAction,
  MAX_ALSO_REQUESTED,
  type ProviderProgress,
  type RequestRef,
  type RunPhase,
  type ToolFact,
  type WatchdogState,
} from "../provenance/schemas.ts"

/** What an abort request says about itself; the run adds its own phase and progress. */
export type AbortRequest =
  | { kind: "lifecycle"; action: LifecycleAction; closing: InstanceRef }
  | { kind: "user_cancel"; request?: RequestRef | undefined }
  | { kind: "watchdog" }
  /** A config write's echo from the watcher, or a load that saw the same change: recorded, never a cause. */
  | { kind: "echo"; operation?: LifecycleAction["operation"]; originKind: string; lifecycleId?: string | undefined }

type AbortOutcome = "aborted" | "also_requested" | "late" | "other_generation"

/** A run as the instance holding it keeps it: its state, and a promise that settles when the run ends. */
export interface ActiveRun {
  state: RunState
  settled: Promise<unknown>
}

/**
 * What a run needs of the instance that holds it (project/instance.ts's `Instance` is one): runs
 * never depend on what holds them, so session/ stays below project/.
 */
export interface RunHolder {
  readonly instanceId: string
  readonly generation: number
  readonly directoryKey: string
  readonly state: "open" | "closing" | "closed"
  readonly runs: Map<string, ActiveRun>
}

export class RunState {
  private readonly controller = new AbortController()
  phase: RunPhase = "starting"
  readonly provider: ProviderProgress = { chunks: 0, progress: false }
  readonly watchdog: WatchdogState
  readonly tools: ToolFact[] = []
  visibleOutput = false
  readonly alsoRequestedBy: AlsoRequested[] = []
  alsoRequestedDropped = 0
  /** Set once, by the first abort that reached the run before it finished. */
  interrupt: InterruptMeta | undefined
  /** The stopped run this one was sent again for, when it is a resend. */
  resendOf: string | undefined
  private finished = false

  constructor(
    readonly runId: string,
    readonly sessionId: string,
    readonly instance: InstanceRef,
    readonly directoryKey: string,
    readonly model: string,
    readonly startedAt: number,
    watchdogMs: number,
    private readonly nextSeq: () => number,
  ) {
    this.watchdog = { fired: false, timeoutMs: watchdogMs }
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  get isFinished(): boolean {
    return this.finished
  }

  get toolExecutionStarted(): boolean {
    return this.tools.length > 0
  }

  /**
   * Requests that the run stop. The first request to reach a running run becomes its cause;
   * later ones (same generation) are kept in `alsoRequestedBy`; one after the run finished is
   * kept as late.
   *
   * @example run.abort({ kind: "user_cancel", request })
   */
  abort(request: AbortRequest): AbortOutcome {
    if (
      request.kind === "lifecycle" &&
      (request.closing.instanceId !== this.instance.instanceId ||
        request.closing.generation !== this.instance.generation)
    ) {
      return "other_generation"
    }
    const at = Date.now()
    if (this.finished || this.controller.signal.aborted || request.kind === "echo") {
      this.recordAlso(request, at, this.finished)
      return this.finished ? "late" : "also_requested"
    }
    if (request.kind === "watchdog") ((this.watchdog.fired = true), (this.watchdog.firedAt = at))
    const meta: InterruptMeta = {
      kind: request.kind,
      seq: this.nextSeq(),
      at,
      runId: this.runId,
      sessionId: this.sessionId,
      phase: this.phase,
      provider: { ...this.provider },
      watchdog: { ...this.watchdog },
      toolExecutionStarted: this.toolExecutionStarted,
      ...(request.kind === "lifecycle"
        ? {
            lifecycle: {
              lifecycleId: request.action.lifecycleId,
              operation: request.action.operation,
              rootOperation: request.action.rootOperation,
              rootId: request.action.rootId,
              ...(request.action.parentId ? { parentId: request.action.parentId } : {}),
              origin: request.action.origin,
            },
          }
        : {}),
      ...(request.kind === "user_cancel" && request.request ? { request: request.request } : {}),
    }
    this.interrupt = meta
    this.controller.abort(meta)
    return "aborted"
  }

  /** Compare-and-set of the final state: true exactly once. */
  finish(): boolean {
    if (this.finished) return false
    this.finished = true
    return true
  }

  private recordAlso(request: AbortRequest, at: number, late: boolean): void {
    if (this.alsoRequestedBy.length >= MAX_ALSO_REQUESTED) {
      this.alsoRequestedDropped++
      return
    }
    const entry: AlsoRequested = {
      seq: this.nextSeq(),
      at,
      kind: request.kind === "echo" ? "lifecycle" : request.kind,
      late,
    }
    if (request.kind === "lifecycle") {
      entry.lifecycleId = request.action.lifecycleId
      entry.operation = request.action.operation
      entry.originKind = request.action.origin.kind
    } else if (request.kind === "echo") {
      if (request.lifecycleId) entry.lifecycleId = request.lifecycleId
      if (request.operation) entry.operation = request.operation
      entry.originKind = request.originKind
    } else if (request.kind === "user_cancel" && request.request) {
      entry.requestId = request.request.requestId
    }
    this.alsoRequestedBy.push(entry)
  }
}
