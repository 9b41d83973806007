/**
 * The one close primitive every lifecycle operation goes through (docs/architecture.md, "The
 * instance store and its one close primitive"). Its order is fixed:
 *   1. the `LifecycleAction` is journalled (by the instance store's `beginAction`, before this);
 *   2. `abort_requested` is journalled for every active run of the generation being closed;
 *   3. each run is aborted with its `InterruptMeta`;
 *   4. the runs settle, bounded (a run that does not gets its summary written for it);
 *   5. only then the instance's resources (watchers) are released.
 * What the store keeps around a close (its maps, generations and events) is the store's, handed
 * in as `CloseBookkeeping`. Only the instance store calls this (spine/abort-sites.test.ts).
 */
import type { Redactor } from "../provenance/node/redaction.ts"
import type { CloseFailure, InstanceRef, LifecycleAction } from "../provenance/schemas.ts"
import type { AbortRequest, ActiveRun, RunState } from "../session/run-state.ts"
import type { Journal } from "../storage/journal.ts"
import type { Instance } from "./instance.ts"

interface CloseOptions {
  journal: Journal
  redactor: Redactor
  /** How long a close waits for its runs to settle before writing their summaries itself. */
  settleTimeoutMs: number
  /** Called for a run that did not settle in time: it must get a summary, never silence. */
  onUnsettled?: ((run: RunState, action: LifecycleAction | undefined) => void) | undefined
  /** Called when an abort request reached a run that had already finished: its summary is written, the late request is added to it. */
  onLate?: ((run: RunState) => void) | undefined
}

/** The instance store's part of a close: what it keeps of instances, generations and actions. */
export interface CloseBookkeeping {
  /** A close begins: an earlier closed generation of the directory is no longer the last one. */
  closing(instance: Instance): void
  /** Resources released: the instance leaves the store. */
  leave(instance: Instance): void
  /** A reload: the directory's next generation. */
  reopen(instance: Instance): Promise<Instance>
  /** Closed without a successor: kept for requests that arrive just after, and announced. */
  disposed(instance: Instance, runs: ActiveRun[]): void
  /** The action is finished with what it closed and the steps that threw. */
  finish(
    action: LifecycleAction,
    result: { instances: InstanceRef[]; runIds: string[]; failed?: CloseFailure[] },
  ): unknown
}

export class InstanceCloser {
  constructor(
    private readonly options: CloseOptions,
    private readonly books: CloseBookkeeping,
  ) {}

  /**
   * The close primitive. Each step that throws is recorded on the action (`failed`) and the
   * close goes on: it always settles, releases, leaves the store and resolves `closed`, or the
   * directory would hang.
   */
  async closeInstance(instance: Instance, action: LifecycleAction, opts: { reopen: boolean }): Promise<void> {
    instance.state = "closing"
    instance.closingBy = action
    let finish!: (next: Instance | undefined) => void
    instance.closed = new Promise((resolve) => (finish = resolve))
    const runs = [...instance.runs.values()]
    instance.closingRuns = runs
    this.books.closing(instance)
    const failed: CloseFailure[] = []
    const step = async (name: CloseFailure["step"], fn: () => unknown) => {
      try {
        await fn()
      } catch (err) {
        if (failed.length < 8) failed.push({ step: name, ...this.failureOf(err) })
      }
    }
    let next: Instance | undefined
    try {
      await step("abort", () => {
        this.requestAborts(instance, action, true)
        for (const queued of instance.queued.splice(0))
          if (queued !== action) this.requestAborts(instance, queued, false)
      })
      await step("settle", async () => {
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<"timeout">(
          (resolve) => (timer = setTimeout(() => resolve("timeout"), this.options.settleTimeoutMs)),
        )
        await Promise.race([Promise.allSettled(runs.map((run) => run.settled)), timeout])
        clearTimeout(timer)
      })
      for (const run of runs) {
        if (!run.state.isFinished) await step("finalize_unsettled", () => this.options.onUnsettled?.(run.state, action))
      }
    } finally {
      for (const release of instance.resources.splice(0)) await step("release", release)
      instance.state = "closed"
      this.books.leave(instance)
      if (opts.reopen) {
        await step("reopen", async () => {
          next = await this.books.reopen(instance)
        })
      }
      if (!next) this.books.disposed(instance, runs)
      await step("finish", () =>
        this.books.finish(action, {
          instances: [{ instanceId: instance.instanceId, generation: instance.generation }],
          runIds: runs.map((run) => run.state.runId),
          failed,
        }),
      )
      finish(next)
    }
  }

  /**
   * Steps 2 and 3 of a close: journal the abort of every run it stops, then abort. Synchronous on purpose.
   * A request overlapping a close in progress reaches every run that close took, finished ones too.
   */
  requestAborts(instance: Instance, action: LifecycleAction, primary: boolean): void {
    const ref = { instanceId: instance.instanceId, generation: instance.generation }
    const runs =
      !primary && instance.state === "closing" && instance.closingRuns
        ? instance.closingRuns
        : [...instance.runs.values()]
    if (primary) {
      for (const run of runs) {
        // A run already stopping (a user's cancel, the watchdog) is not stopped by this close: a
        // row for it would have the next start's crash scan name this close as its cause.
        if (run.state.signal.aborted || run.state.isFinished) continue
        this.options.journal.append(
          "abort_requested",
          { runId: run.state.runId, lifecycleId: action.lifecycleId, sessionId: run.state.sessionId },
          { runId: run.state.runId, lifecycleId: action.lifecycleId, instance: ref },
        )
      }
    }
    for (const run of runs) this.abortRun(run.state, { kind: "lifecycle", action, closing: ref })
  }

  /** `run.abort`, and a request that came after the run finished is handed on to be added to its summary. */
  abortRun(run: RunState, request: AbortRequest): void {
    if (run.abort(request) === "late") this.options.onLate?.(run)
  }

  /** What a failed close step is recorded as: the error's code and class, never its text. */
  private failureOf(err: unknown): { code: string; class: string } {
    const fact = this.options.redactor.errorFact(err)
    return { code: fact.code, class: fact.class }
  }
}
