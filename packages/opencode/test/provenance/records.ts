/**
 * Builders of valid spine records for the provenance tests. Each returns a record parsed
 * through its schema, so a test can never pass with a shape the server could not produce.
 */
import {
  ClientAction,
  CrashEvidence,
  LifecycleAction,
  type LifecycleOperation,
  type Origin,
  type OriginInput,
  RequestContext,
  type RequestRef,
  RunSummary,
} from "../../src/provenance/schemas.ts"
import { withProvenance } from "../../src/provenance/completeness.ts"
import { deriveRetry } from "../../src/provenance/retry.ts"

export const appRequest = (overrides: Partial<RequestRef> = {}): RequestRef => ({
  requestId: "req_app1",
  route: "/instance/reload",
  method: "POST",
  clientKind: "app",
  actionId: "act_reload1",
  actionName: "instance.reload",
  actionHeader: "present",
  ...overrides,
})

export const plainRequest = (overrides: Partial<RequestRef> = {}): RequestRef => ({
  requestId: "req_plain1",
  route: "/instance/dispose",
  method: "POST",
  clientKind: "plain",
  actionHeader: "absent",
  ...overrides,
})

export const requestContext = (ref: RequestRef, seq = 1): RequestContext =>
  RequestContext.parse({ ...ref, seq, time: 1_000 + seq, directoryKey: "/work/project" })

export const clientAction = (actionId: string, name: string, requestIds: string[] = []): ClientAction =>
  ClientAction.parse({ actionId, name, page: "/session/:id", time: 900, requestIds, outcome: "ok" })

export function lifecycleAction(
  lifecycleId: string,
  operation: LifecycleOperation,
  origin: OriginInput | Origin,
  extra: Partial<{
    parentId: string
    rootId: string
    rootOperation: LifecycleOperation
    runIds: string[]
    seq: number
  }> = {},
): LifecycleAction {
  return LifecycleAction.parse({
    lifecycleId,
    seq: extra.seq ?? 10,
    operation,
    rootOperation: extra.rootOperation ?? operation,
    rootId: extra.rootId ?? lifecycleId,
    ...(extra.parentId ? { parentId: extra.parentId } : {}),
    origin: "provenance" in origin ? origin : withProvenance(origin),
    directoryKeys: ["/work/project"],
    directoryCount: 1,
    instances: [{ instanceId: "ins_one", generation: 1 }],
    runIds: extra.runIds ?? [],
    startedAt: 2_000,
  })
}

const baseRun = {
  seq: 20,
  instance: { instanceId: "ins_one", generation: 1 },
  startedAt: 1_500,
  finishedAt: 2_500,
  provider: { chunks: 3, progress: true },
  watchdog: { fired: false },
  visibleOutput: true,
  tools: [],
  toolFactsRecorded: true,
}

/** A run interrupted by `action`, with its InterruptMeta as the run state would set it. */
export function interruptedRun(
  runId: string,
  action: LifecycleAction,
  overrides: Record<string, unknown> = {},
): RunSummary {
  return run(runId, {
    classification: classificationOf(action.rootOperation),
    interrupt: {
      kind: "lifecycle",
      seq: 30,
      at: 2_100,
      runId,
      sessionId: "ses_one",
      lifecycle: {
        lifecycleId: action.lifecycleId,
        operation: action.operation,
        rootOperation: action.rootOperation,
        rootId: action.rootId,
        ...(action.parentId ? { parentId: action.parentId } : {}),
        origin: action.origin,
      },
      phase: "provider_streaming",
      provider: { chunks: 3, progress: true },
      watchdog: { fired: false },
      toolExecutionStarted: false,
    },
    ...overrides,
  })
}

export function run(runId: string, fields: Record<string, unknown>): RunSummary {
  const merged = { ...baseRun, runId, sessionId: "ses_one", ...fields } as Record<string, unknown>
  const retry = deriveRetry({
    tools: merged.tools as { kind: "read" | "write" | "exec" | "network" }[],
    toolFactsRecorded: merged.toolFactsRecorded as boolean,
    visibleOutput: merged.visibleOutput as boolean,
  })
  return RunSummary.parse({ retry, ...merged })
}

export const interruptOf = (
  kind: "user_cancel" | "watchdog" | "remote",
  runId: string,
  extra: Record<string, unknown> = {},
) => ({
  kind,
  seq: 31,
  at: 2_200,
  runId,
  sessionId: "ses_one",
  phase: "provider_waiting",
  provider: { chunks: 0, progress: false },
  watchdog: { fired: kind === "watchdog" },
  toolExecutionStarted: false,
  ...extra,
})

export function crash(runId: string, extra: Record<string, unknown> = {}): CrashEvidence {
  return CrashEvidence.parse({
    runId,
    sessionId: "ses_one",
    bootId: "boot_a",
    startedAt: 1_000,
    detectedAt: 9_000,
    ...extra,
  })
}

function classificationOf(operation: LifecycleOperation) {
  return (
    {
      reload: "local_instance_reload",
      load_reload: "local_instance_reload",
      dispose: "local_instance_dispose",
      dispose_directory: "local_instance_dispose_directory",
      dispose_all: "local_instance_dispose_all",
    } as const
  )[operation]
}
