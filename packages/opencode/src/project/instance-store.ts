/**
 * The instance store: one instance per directory key and its generations, the lifecycle
 * operations and their actions. Every operation takes its `origin` as a required argument;
 * nothing here reads ambient request context. Every operation closes an instance through the one
 * close primitive (`close-primitive.ts`), which keeps the fixed close order; this file keeps the
 * bookkeeping around it (docs/architecture.md, "The instance store and its one close primitive").
 */
import { newId } from "../id.ts"
import { withProvenance } from "../provenance/completeness.ts"
import {
  type CloseFailure,
  type InstanceRef,
  LifecycleAction,
  type LifecycleOperation,
  MAX_ACTION_FAILURES,
  MAX_ACTION_KEYS,
  MAX_ACTION_RUN_IDS,
  type Origin,
  type OriginInput,
  type RequestRef,
} from "../provenance/schemas.ts"
import type { Redactor } from "../provenance/node/redaction.ts"
import { ApiError } from "../api-error.ts"
import type { EventBus } from "../bus/index.ts"
import type { AbortRequest, ActiveRun, RunState } from "../session/run-state.ts"
import type { Journal } from "../storage/journal.ts"
import { type CloseBookkeeping, InstanceCloser } from "./close-primitive.ts"
import { watchConfigFile } from "./config-watcher.ts"
import { DirectoryLock } from "./directory-lock.ts"
import type { Instance } from "./instance.ts"
import { isReopening, reopens } from "./instance.ts"
import { InstanceError } from "../session/instance-error.ts"
import { CONFIG_FILE, detectContext, type InstanceContext, mismatchOf } from "./instance-context.ts"

interface InstanceStoreOptions {
  journal: Journal
  bus: EventBus
  redactor: Redactor
  /** How long a close waits for its runs to settle before writing their summaries itself. */
  settleTimeoutMs?: number
  /** Called for a run that did not settle in time: it must get a summary, never silence. */
  onUnsettled?: (run: RunState, action: LifecycleAction | undefined) => void
  /** Watch each instance's config file (off in tests that edit config by hand). */
  watchConfig?: boolean
  /** Open instances allowed at once (each holds a file-system watch); default 64. */
  maxInstances?: number
  /** Called when an abort request reached a run that had already finished: its summary is written, the late request is added to it. */
  onLate?: (run: RunState) => void
}

interface ActionOptions {
  parent?: LifecycleAction | undefined
  /** The caller already holds the directory lock. */
  locked?: boolean
}

/** Sessions whose last closed run is remembered for a late cancel. */
const MAX_CLOSED_RUNS = 1024

/**
 * A new directory past the cap of open instances. Refused rather than making room: evicting an
 * open instance would interrupt its runs for a reason the user never chose.
 */
class InstanceLimitError extends ApiError {
  constructor(max: number) {
    super(
      503,
      "too_many_instances",
      `${max} project directories are open, the most this server keeps (OPENCODE_MAX_INSTANCES); dispose one and try again`,
    )
  }
}

/** Once the server is shutting down, no instance opens: one opened after `disposeAll` took its snapshot would never close. */
class ShuttingDownError extends ApiError {
  constructor() {
    super(503, "shutting_down", "the server is shutting down; no new work is accepted")
  }
}

const DEFAULT_MAX_INSTANCES = 64

export class InstanceStore {
  private readonly instances = new Map<string, Instance>()
  private readonly instanceIds = new Map<string, string>()
  /**
   * The last generation of each directory disposed without a successor, until the directory
   * opens again: an action that arrives just after that close was requested against it, and is
   * kept on its runs as late instead of being lost.
   */
  private readonly lastClosed = new Map<string, { ref: InstanceRef; runs: ActiveRun[] }>()
  /**
   * The run a close last took from each session, whatever the close (a reload's next generation
   * included), recorded when the close begins: a user's cancel that arrives after that run
   * stopped is kept on it as late instead of being lost.
   */
  private readonly closedRuns = new Map<string, RunState>()
  readonly locks = new DirectoryLock()
  private readonly settleTimeoutMs: number

  private readonly closer: InstanceCloser
  private watcherFailures = 0
  /** Set by `refuseNewInstances` when the server begins to shut down. */
  private shuttingDown = false

  constructor(private readonly options: InstanceStoreOptions) {
    this.settleTimeoutMs = options.settleTimeoutMs ?? 5000
    const books: CloseBookkeeping = {
      closing: (instance) => {
        this.lastClosed.delete(instance.directoryKey)
        for (const run of instance.closingRuns ?? []) this.rememberClosedRun(run.state)
      },
      leave: (instance) => {
        if (this.instances.get(instance.directoryKey) === instance) this.instances.delete(instance.directoryKey)
      },
      reopen: async (instance) =>
        this.open(
          instance.directory,
          instance.directoryKey,
          await detectContext(instance.directory),
          instance.generation + 1,
        ),
      disposed: (instance, runs) => {
        this.rememberClosed(instance, runs)
        this.instanceIds.delete(instance.directoryKey)
        this.options.bus.publish({
          type: "server.instance.disposed",
          properties: { directory: instance.directory },
          directoryKey: instance.directoryKey,
        })
      },
      finish: (action, result) => this.finishAction(action, result),
    }
    const { journal, redactor, onUnsettled, onLate } = options
    this.closer = new InstanceCloser(
      { journal, redactor, settleTimeoutMs: this.settleTimeoutMs, onUnsettled, onLate },
      books,
    )
  }

  /** How long a close waits for its runs to settle. */
  get settleTimeout(): number {
    return this.settleTimeoutMs
  }

  /**
   * Writes what is known when closes cannot finish in time (a shutdown's deadline): every run
   * still in an instance is aborted by the action closing it, or queued to close it (journalled
   * first, as in a close), and each run not finished gets its summary now, `run_summary` named
   * missing. Synchronous: nothing here waits.
   */
  settleNow(cause: (action: LifecycleAction) => boolean = () => false): { instances: number; runIds: string[] } {
    const runIds: string[] = []
    let instances = 0
    for (const instance of this.instances.values()) {
      instances++
      // The close in progress, else the one settling now (`cause`: the shutdown's own), never merely
      // the first in the queue: a reload waiting behind a git init never closed anything.
      const action = instance.closingBy ?? instance.queued.find(cause) ?? instance.queued[0]
      if (action && instance.state === "open") {
        this.closer.requestAborts(instance, action, true)
        // The other closes waiting for the lock were asked too: also requested, never the cause.
        for (const queued of instance.queued) if (queued !== action) this.closer.requestAborts(instance, queued, false)
      }
      for (const run of instance.runs.values()) {
        if (run.state.isFinished) continue
        runIds.push(run.state.runId)
        try {
          this.options.onUnsettled?.(run.state, action)
        } catch {
          // One summary that cannot be written must not stop the others.
        }
      }
    }
    return { instances, runIds }
  }

  get(directoryKey: string): Instance | undefined {
    return this.instances.get(directoryKey)
  }

  list(): Instance[] {
    return [...this.instances.values()]
  }

  /**
   * The open instance for a directory, created on first use. When the detected context no
   * longer matches the cached one, the instance is reopened by a `load_reload` whose origin is
   * `context_mismatch`, with `request` as the occasion it was detected during (never the initiator).
   * `request` may be a function, called only when there is a mismatch to record (most loads have none).
   * With `forRun`, an instance that is being disposed answers `instance_closing` instead of waiting.
   */
  async load(
    directory: string,
    directoryKey: string,
    request: RequestRef | undefined | (() => RequestRef | undefined),
    opts: { forRun?: boolean } = {},
  ): Promise<Instance> {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (this.shuttingDown) throw new ShuttingDownError()
      const current = this.instances.get(directoryKey)
      if (current && current.state !== "open") {
        if (opts.forRun && !isReopening(current))
          throw new InstanceError("instance_closing", "the project instance is closing; try again")
        await current.closed
        continue
      }
      if (this.locks.isHeld(directoryKey)) {
        // A route is changing this directory's context; the change it makes is its own to attribute.
        const detected = current ? await detectContext(directory) : undefined
        if (current && detected && mismatchOf(current.context, detected))
          this.echo(current, "context_mismatch", "load_reload")
        // Wait without queueing: an empty turn in the lock would read as a holder to other loads.
        await this.locks.idle(directoryKey)
        continue
      }
      const context = await detectContext(directory)
      if (!current) {
        return this.locks.run(directoryKey, async () => {
          const opened = this.instances.get(directoryKey)
          if (opened) return opened
          if (this.shuttingDown) throw new ShuttingDownError()
          const max = this.options.maxInstances ?? DEFAULT_MAX_INSTANCES
          if (this.instances.size >= max) throw new InstanceLimitError(max)
          return this.open(directory, directoryKey, context, 1)
        })
      }
      const mismatch = mismatchOf(current.context, context)
      if (!mismatch) return current
      await this.locks.run(directoryKey, async () => {
        const still = this.instances.get(directoryKey)
        if (still !== current || still.state !== "open") return
        const fresh = await detectContext(directory)
        const found = mismatchOf(still.context, fresh)
        if (!found) return
        const occasion = typeof request === "function" ? request() : request
        const origin: OriginInput = {
          kind: "context_mismatch",
          reason: found.reason,
          before: this.options.redactor.digest(found.before),
          after: this.options.redactor.digest(found.after),
          ...(occasion ? { detectedDuring: occasion } : {}),
        }
        const action = this.beginAction("load_reload", withProvenance(origin), [directoryKey], undefined)
        await this.closer.closeInstance(still, action, { reopen: reopens(action.operation) })
      })
    }
    throw new InstanceError("instance_closing", "the project instance kept closing; try again")
  }

  /** `reload`: a new generation of the directory's instance. */
  reload(directoryKey: string, origin: OriginInput, opts: ActionOptions = {}): Promise<LifecycleAction> {
    return this.closeDirectory("reload", directoryKey, origin, opts)
  }

  /** `dispose`: close the directory's instance; the next request opens a new one. */
  dispose(directoryKey: string, origin: OriginInput, opts: ActionOptions = {}): Promise<LifecycleAction> {
    return this.closeDirectory("dispose", directoryKey, origin, opts)
  }

  /** `dispose_directory`: as dispose, for invalidations (config, a removed directory, a parent's fan-out). */
  disposeDirectory(directoryKey: string, origin: OriginInput, opts: ActionOptions = {}): Promise<LifecycleAction> {
    return this.closeDirectory("dispose_directory", directoryKey, origin, opts)
  }

  /**
   * The server is shutting down: from now on no instance opens (a load answers 503
   * `shutting_down`), so a request admitted before the shutdown, still waiting for a close to
   * finish, cannot start work in an instance the shutdown's `disposeAll` never saw.
   */
  refuseNewInstances(): void {
    this.shuttingDown = true
  }

  /** `dispose_all`: one `dispose_directory` child per open instance, all carrying this action as parent. */
  async disposeAll(origin: OriginInput): Promise<LifecycleAction> {
    const targets = this.list()
    const keys = targets.map((instance) => instance.directoryKey)
    const root = this.beginAction("dispose_all", withProvenance(origin), keys, undefined)
    const children = await Promise.all(
      targets.map((instance) =>
        this.closeDirectory("dispose_directory", instance.directoryKey, root.origin, { parent: root }),
      ),
    )
    return this.finishAction(root, {
      instances: children.flatMap((child) => child.instances),
      runIds: children.flatMap((child) => child.runIds),
    })
  }

  private async closeDirectory(
    operation: LifecycleOperation,
    directoryKey: string,
    origin: OriginInput | Origin,
    opts: ActionOptions,
  ): Promise<LifecycleAction> {
    const completed = "provenance" in origin ? (origin as Origin) : withProvenance(origin)
    const action = this.beginAction(operation, completed, [directoryKey], opts.parent)
    // Requested now, before waiting for the lock: the first abort to reach a run is its cause,
    // and an action that overlaps a close in progress is recorded on those runs as well.
    const requested = this.instances.get(directoryKey)
    const recent = requested ? undefined : this.lastClosed.get(directoryKey)
    if (recent)
      for (const run of recent.runs) this.closer.abortRun(run.state, { kind: "lifecycle", action, closing: recent.ref })
    else if (requested && requested.state === "closing") this.closer.requestAborts(requested, action, false)
    // Queued behind another holder of the lock (a racing reload, a config write): if that holder
    // closes this generation, this action was requested against the same runs and is kept on them.
    else if (requested && requested.state === "open" && !opts.locked && this.locks.isHeld(directoryKey))
      requested.queued.push(action)
    const closed: InstanceRef[] = []
    const runIds: string[] = []
    const body = async () => {
      const current = this.instances.get(directoryKey)
      if (!current) return
      if (current.state !== "open") await current.closed
      const target = this.instances.get(directoryKey)
      if (!target || target.state !== "open") return
      closed.push({ instanceId: target.instanceId, generation: target.generation })
      runIds.push(...target.runs.keys())
      await this.closer.closeInstance(target, action, { reopen: reopens(operation) })
    }
    if (opts.locked) await body()
    else await this.locks.run(directoryKey, body)
    // closeInstance finished the action when it closed something; otherwise finish it here.
    if (closed.length === 0) return this.finishAction(action, { instances: [], runIds: [] })
    return action.finishedAt === undefined ? this.finishAction(action, { instances: closed, runIds }) : action
  }

  private rememberClosed(instance: Instance, runs: ActiveRun[]): void {
    if (runs.length === 0) return
    this.lastClosed.set(instance.directoryKey, {
      ref: { instanceId: instance.instanceId, generation: instance.generation },
      runs,
    })
    // Bounded like the open instances: the oldest memory goes first.
    if (this.lastClosed.size > (this.options.maxInstances ?? DEFAULT_MAX_INSTANCES))
      this.lastClosed.delete(this.lastClosed.keys().next().value!)
  }

  private rememberClosedRun(run: RunState): void {
    this.closedRuns.delete(run.sessionId)
    this.closedRuns.set(run.sessionId, run)
    // Bounded: the oldest session's memory goes first.
    if (this.closedRuns.size > MAX_CLOSED_RUNS) this.closedRuns.delete(this.closedRuns.keys().next().value!)
  }

  /**
   * The user's cancel of a session's run: its active run, else the run a close took from the
   * session when that is still the session's last run (`lastRunId`), where it is kept as late
   * (the close's cause stands). A request that reaches a run already finished is added to its
   * written summary. True when a run was found.
   */
  cancel(
    sessionId: string,
    active: RunState | undefined,
    lastRunId: string | undefined,
    request: AbortRequest,
  ): boolean {
    const closed = this.closedRuns.get(sessionId)
    const run = active ?? (closed && closed.runId === lastRunId ? closed : undefined)
    if (!run) return false
    this.closer.abortRun(run, request)
    return true
  }

  /**
   * A request caused by a change another action is already handling: kept on the runs, never a
   * cause. It names the operation it would have started and its origin kind, but no lifecycle id:
   * no action was created for it, and the closing action's id belongs to another operation.
   */
  echo(instance: Instance, originKind: string, operation: LifecycleOperation): void {
    for (const run of instance.runs.values()) run.state.abort({ kind: "echo", originKind, operation })
  }

  private open(directory: string, directoryKey: string, context: InstanceContext, generation: number): Instance {
    let instanceId = this.instanceIds.get(directoryKey)
    if (!instanceId || generation === 1) {
      instanceId = newId("ins")
      this.instanceIds.set(directoryKey, instanceId)
    }
    const instance: Instance = {
      instanceId,
      generation,
      directory,
      directoryKey,
      context,
      state: "open",
      runs: new Map(),
      resources: [],
      queued: [],
    }
    this.lastClosed.delete(directoryKey)
    if (this.options.watchConfig !== false) {
      // Its callbacks build their own origins: a later config edit never blames the request that opened the instance.
      const stop = watchConfigFile(directory, CONFIG_FILE, context.configDigest, {
        onChange: ({ digest, change }) => this.onConfigChange(instance, digest, change),
        onDirectoryGone: () => this.onDirectoryGone(instance),
      })
      instance.resources.push(stop)
    }
    this.instances.set(directoryKey, instance)
    return instance
  }

  private onConfigChange(instance: Instance, digest: string, change: "created" | "modified" | "deleted"): void {
    if (instance.state !== "open" || this.instances.get(instance.directoryKey) !== instance) {
      if (instance.state === "closing") this.echo(instance, "config_invalidation", "dispose_directory")
      return
    }
    if (digest === instance.context.configDigest) return
    if (instance.expectedConfigDigest === digest || this.locks.isHeld(instance.directoryKey)) {
      // Our own route wrote this under the lock and closes the instance itself.
      this.echo(instance, "config_invalidation", "dispose_directory")
      return
    }
    const origin: OriginInput = {
      kind: "config_invalidation",
      scope: "project",
      fileKey: this.options.redactor.digest(`${instance.directoryKey}/${CONFIG_FILE}`),
      change,
    }
    void this.disposeDirectory(instance.directoryKey, origin).catch((err) =>
      this.watcherCloseFailed(err, "config_watch"),
    )
  }

  private onDirectoryGone(instance: Instance): void {
    if (instance.state !== "open" || this.instances.get(instance.directoryKey) !== instance) return
    void this.disposeDirectory(instance.directoryKey, { kind: "server_handler", handler: "directory_watch" }).catch(
      (err) => this.watcherCloseFailed(err, "directory_watch"),
    )
  }

  /** Closes a watcher started that failed; `/health` names `watcher_close_failed` while any has. */
  get watcherCloseFailures(): number {
    return this.watcherFailures
  }

  /**
   * A close no request waits for (a watcher's) failed: nobody would see its error, so it is
   * counted for `/health` and logged as its code and class, never its text.
   */
  watcherCloseFailed(err: unknown, watcher: "config_watch" | "directory_watch" | "global_config_watch"): void {
    this.watcherFailures++
    const fact = this.options.redactor.errorFact(err)
    console.error(`${watcher}: the close it started failed (${fact.class}, code ${fact.code})`)
  }

  /** Step 1: the action is journalled durably and announced before it takes effect. */
  beginAction(
    operation: LifecycleOperation,
    origin: Origin,
    directoryKeys: string[],
    parent: LifecycleAction | undefined,
  ): LifecycleAction {
    const lifecycleId = newId("lc")
    const action = LifecycleAction.parse({
      lifecycleId,
      seq: this.options.journal.nextSeq(),
      operation,
      rootOperation: parent ? parent.rootOperation : operation,
      ...(parent ? { parentId: parent.lifecycleId } : {}),
      rootId: parent ? parent.rootId : lifecycleId,
      origin,
      directoryKeys: directoryKeys.slice(0, MAX_ACTION_KEYS),
      directoryCount: directoryKeys.length,
      instances: [],
      runIds: [],
      startedAt: Date.now(),
    })
    this.options.journal.append("lifecycle.started", { lifecycleId }, action)
    this.options.bus.publish({
      type: "lifecycle.action.started",
      properties: { action },
      directoryKey: directoryKeys.length === 1 ? directoryKeys[0] : undefined,
    })
    return action
  }

  private finishAction(
    action: LifecycleAction,
    result: { instances: InstanceRef[]; runIds: string[]; failed?: CloseFailure[] },
  ): LifecycleAction {
    if (action.finishedAt !== undefined) return action
    action.instances = result.instances.slice(0, MAX_ACTION_KEYS)
    action.runIds = [...new Set(result.runIds)].slice(0, MAX_ACTION_RUN_IDS)
    if (result.failed?.length) action.failed = result.failed.slice(0, MAX_ACTION_FAILURES)
    action.finishedAt = Date.now()
    // Parsed like every stored spine record: a reader trusts what this build wrote (export.ts).
    this.options.journal.append(
      "lifecycle.finished",
      { lifecycleId: action.lifecycleId },
      LifecycleAction.parse(action),
    )
    this.options.bus.publish({
      type: "lifecycle.action.finished",
      properties: { action },
      directoryKey: action.directoryKeys.length === 1 ? action.directoryKeys[0] : undefined,
    })
    return action
  }
}
