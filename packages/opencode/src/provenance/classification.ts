/**
 * How a stopped run is classified (docs/protocol.md, "Run classification"). The cause travels on the
 * abort signal, so classification reads only the signal's `InterruptMeta`, never ambient state.
 */
import { type Classification, InterruptMeta, type LifecycleOperation } from "./schemas.ts"

/**
 * How the run's own code ended, before the abort signal is considered: it finished, or the
 * provider or a tool threw, or it saw an abort error.
 */
export type RunOutcome = "completed" | "provider_error" | "tool_error" | "aborted"

const classificationOfOperation: Record<LifecycleOperation, Classification> = {
  reload: "local_instance_reload",
  load_reload: "local_instance_reload",
  dispose: "local_instance_dispose",
  dispose_directory: "local_instance_dispose_directory",
  dispose_all: "local_instance_dispose_all",
}

/**
 * The classification a run gets when the action that aborted it has this root operation.
 *
 * @example classificationForOperation("load_reload") // "local_instance_reload"
 */
export function classificationForOperation(rootOperation: LifecycleOperation): Classification {
  return classificationOfOperation[rootOperation]
}

/**
 * The root operation each lifecycle classification names: the map above read backwards, where
 * `local_instance_reload` reads as `reload` (a `load_reload` cannot be told apart without the action).
 */
const operationOfClassification: Partial<Record<Classification, LifecycleOperation>> = Object.fromEntries(
  Object.entries(classificationOfOperation)
    .filter(([operation]) => operation !== "load_reload")
    .map(([operation, classification]) => [classification, operation]),
)

/**
 * The root operation a lifecycle classification names, for records that kept the classification
 * but not the action (old writers, the app's banner before the incident arrives).
 *
 * @example rootOperationForClassification("local_instance_dispose_all") // "dispose_all"
 */
export function rootOperationForClassification(classification: Classification): LifecycleOperation | undefined {
  return operationOfClassification[classification]
}

/** The signal's reason as an `InterruptMeta`, or `undefined` when it is anything else. */
export function interruptMetaFromReason(reason: unknown): InterruptMeta | undefined {
  const parsed = InterruptMeta.safeParse(reason)
  return parsed.success ? parsed.data : undefined
}

/**
 * Classifies a run from its interrupt and its own outcome. `signalAborted` means the signal was
 * aborted before the run's final state was set; an abort after that is a late request and does
 * not change the outcome. Once aborted, a thrown provider or tool error is a consequence of the
 * close, never the cause.
 *
 * @example classifyInterrupt(undefined, true, "provider_error") // "unknown_interrupt"
 */
export function classifyInterrupt(
  meta: InterruptMeta | undefined,
  signalAborted: boolean,
  outcome: RunOutcome,
): Classification {
  if (!signalAborted) return outcome === "aborted" ? "unknown_interrupt" : outcome
  if (!meta) return "unknown_interrupt"
  switch (meta.kind) {
    case "lifecycle":
      return meta.lifecycle ? classificationForOperation(meta.lifecycle.rootOperation) : "unknown_interrupt"
    case "user_cancel":
      return "user_cancelled"
    case "watchdog":
      return "watchdog_timeout"
    case "remote":
      return "remote_interrupted"
  }
}

/** How a run stopped: its classification, the interrupt that decided it, and the error kept as its cause. */
interface StopDecision<E> {
  classification: Classification
  interrupt?: InterruptMeta
  error?: E
}

/**
 * The interrupt-wins rule, decided here only: when the signal was aborted before the run's final
 * state was set, its interrupt classifies the run and an error thrown then is a consequence of
 * the close, never kept as the cause; otherwise the run's own outcome and error stand.
 *
 * @example decideStop(signal.reason, true, "provider_error", fact) // { classification: "local_instance_reload", interrupt }
 */
export function decideStop<E>(
  reason: unknown,
  signalAborted: boolean,
  outcome: RunOutcome,
  error?: E,
): StopDecision<E> {
  const interrupt = signalAborted ? interruptMetaFromReason(reason) : undefined
  const classification = classifyInterrupt(interrupt, signalAborted, outcome)
  return {
    classification,
    ...(interrupt ? { interrupt } : {}),
    ...(error !== undefined && !signalAborted ? { error } : {}),
  }
}
