/** An open project directory's instance, one generation of it, and the runs it holds. */
import type { LifecycleAction, LifecycleOperation } from "../provenance/schemas.ts"
import type { ActiveRun } from "../session/run-state.ts"
import type { InstanceContext } from "./instance-context.ts"

export interface Instance {
  instanceId: string
  generation: number
  directory: string
  directoryKey: string
  context: InstanceContext
  state: "open" | "closing" | "closed"
  runs: Map<string, ActiveRun>
  /** The action closing this generation, while it closes. */
  closingBy?: LifecycleAction
  closed?: Promise<Instance | undefined>
  /** Released in step 5 of a close. */
  resources: (() => void)[]
  /**
   * Actions requested while this generation was open but another holder had the directory lock:
   * whichever action closes this generation records them on its runs as `alsoRequestedBy`.
   */
  queued: LifecycleAction[]
  /** The digest a config route is writing under the directory lock: its watcher echo is not a new cause. */
  expectedConfigDigest?: string
  /** The runs a close in progress took: a later request still reaches those that already finished (as late). */
  closingRuns?: ActiveRun[]
}

/** The operations whose close opens the next generation of the same instance. */
export function reopens(operation: LifecycleOperation): boolean {
  return operation === "reload" || operation === "load_reload"
}

/**
 * Whether `instance` is closing to reopen: a run may wait for its next generation rather than fail.
 *
 * @example if (isReopening(instances.get(key))) await next generation
 */
export function isReopening(instance: Instance | undefined): boolean {
  return instance?.closingBy !== undefined && reopens(instance.closingBy.operation)
}
