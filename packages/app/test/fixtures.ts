/**
 * Version 2 session exports for the app's tests, one per verdict. Records are built through the
 * spine's schemas so a fixture that drifts from them fails loudly here, not as a wrong verdict.
 */
import {
  ClientAction,
  CrashEvidence,
  LifecycleAction,
  type Origin,
  RequestContext,
  RunSummary,
} from "opencode/provenance/schemas"

export const T0 = 1_750_000_000_000
export const SESSION = "ses_test1"

export type Scenario = "diagnosed" | "partially_diagnosed" | "missing_provenance" | "crash_evidence" | "remote_reported"

const requestRef = (withAction: boolean) => ({
  requestId: "req_reload1",
  route: "/instance/reload",
  method: "POST",
  clientKind: "app" as const,
  actionHeader: withAction ? ("present" as const) : ("absent" as const),
  ...(withAction ? { actionId: "act_reload1", actionName: "instance.reload" } : {}),
})

function reloadOrigin(withAction: boolean): Origin {
  return {
    kind: "api_route",
    request: requestRef(withAction),
    provenance: withAction ? { complete: true, missing: [] } : { complete: false, missing: ["renderer_action"] },
  }
}

function runSummary(overrides: Partial<RunSummary> & Pick<RunSummary, "classification">): RunSummary {
  return RunSummary.parse({
    runId: "run_one",
    sessionId: SESSION,
    seq: 5,
    instance: { instanceId: "ins_a", generation: 1 },
    model: "scripted/slow",
    startedAt: T0,
    finishedAt: T0 + 4_000,
    provider: { chunks: 4, progress: true, firstOutputAt: T0 + 200, lastOutputAt: T0 + 3_000 },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    ...overrides,
  })
}

function lifecycleReload(origin: Origin): LifecycleAction {
  return LifecycleAction.parse({
    lifecycleId: "lc_reload1",
    seq: 3,
    operation: "reload",
    rootOperation: "reload",
    rootId: "lc_reload1",
    origin,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: [{ instanceId: "ins_a", generation: 1 }],
    runIds: ["run_one"],
    startedAt: T0 + 3_500,
    finishedAt: T0 + 4_100,
  })
}

export function exportFor(scenario: Scenario) {
  const renderer: ClientAction[] = []
  const requests: RequestContext[] = []
  const lifecycle: LifecycleAction[] = []
  const runs: RunSummary[] = []
  const crashes: CrashEvidence[] = []
  const withAction = scenario === "diagnosed"

  if (scenario === "diagnosed" || scenario === "partially_diagnosed") {
    const origin = reloadOrigin(withAction)
    if (withAction) {
      renderer.push(
        ClientAction.parse({
          actionId: "act_reload1",
          name: "instance.reload",
          page: "/session/:id",
          time: T0 + 3_400,
          requestIds: ["req_reload1"],
          outcome: "ok",
        }),
      )
    }
    requests.push(
      RequestContext.parse({
        ...requestRef(withAction),
        seq: 2,
        time: T0 + 3_450,
        clientVersion: "0.1.0",
        status: 200,
        durationMs: 40,
      }),
    )
    const action = lifecycleReload(origin)
    lifecycle.push(action)
    runs.push(
      runSummary({
        classification: "local_instance_reload",
        interrupt: {
          kind: "lifecycle",
          seq: 4,
          at: T0 + 3_600,
          runId: "run_one",
          sessionId: SESSION,
          lifecycle: {
            lifecycleId: action.lifecycleId,
            operation: "reload",
            rootOperation: "reload",
            rootId: action.rootId,
            origin,
          },
          phase: "provider_streaming",
          provider: { chunks: 4, progress: true },
          watchdog: { fired: false },
          toolExecutionStarted: false,
        },
      }),
    )
  }
  if (scenario === "missing_provenance") {
    runs.push(
      runSummary({ classification: "unknown_interrupt", missing: ["lifecycle_action"], closeSite: "scope_close" }),
    )
  }
  if (scenario === "remote_reported") {
    runs.push(
      runSummary({
        classification: "remote_interrupted",
        interrupt: {
          kind: "remote",
          seq: 4,
          at: T0 + 3_600,
          runId: "run_one",
          sessionId: SESSION,
          workspaceId: "ws_remote",
          phase: "provider_streaming",
          provider: { chunks: 4, progress: true },
          watchdog: { fired: false },
          toolExecutionStarted: false,
        },
      }),
    )
  }
  if (scenario === "crash_evidence") {
    crashes.push(
      CrashEvidence.parse({
        runId: "run_one",
        sessionId: SESSION,
        bootId: "boot_a",
        startedAt: T0,
        lastHeartbeatAt: T0 + 2_000,
        detectedAt: T0 + 60_000,
        visibleOutput: true,
        tools: [{ callId: "call_1", name: "write", kind: "write", startedAt: T0 + 1_000, status: "running" }],
      }),
    )
  }
  return {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: { runs, lifecycle, requests, renderer, crashes, truncated: {} },
    incidents: [],
  }
}

/** A long chain: `count` records spread over the lanes, all in one export. */
export function largeExport(count: number) {
  const doc = exportFor("diagnosed")
  const per = Math.floor(count / 4)
  for (let i = 0; i < per; i++) {
    const t = T0 + i * 50
    doc.diagnostics.renderer.push(
      ClientAction.parse({
        actionId: `act_bulk${i}`,
        name: "session.prompt",
        page: "/session/:id",
        time: t,
        requestIds: [`req_bulk${i}`],
        outcome: "ok",
      }),
    )
    doc.diagnostics.requests.push(
      RequestContext.parse({
        requestId: `req_bulk${i}`,
        seq: 100 + i,
        time: t + 5,
        method: "POST",
        route: "/session/:id/prompt",
        clientKind: "app",
        actionId: `act_bulk${i}`,
        actionName: "session.prompt",
        actionHeader: "present",
        status: 200,
        durationMs: 3,
      }),
    )
    doc.diagnostics.lifecycle.push(
      LifecycleAction.parse({
        lifecycleId: `lc_bulk${i}`,
        seq: 10_000 + i,
        operation: "dispose_directory",
        rootOperation: "dispose_all",
        rootId: "lc_reload1",
        parentId: "lc_reload1",
        origin: { kind: "shutdown", signal: "SIGTERM", provenance: { complete: true, missing: [] } },
        directoryKeys: [],
        directoryCount: 1,
        startedAt: t + 10,
        finishedAt: t + 30,
      }),
    )
    doc.diagnostics.runs.push(
      runSummary({
        runId: `run_bulk${i}`,
        seq: 20_000 + i,
        classification: "completed",
        startedAt: t + 6,
        finishedAt: t + 40,
      }),
    )
  }
  return doc
}

/** What the crash scan writes on run_one's row (and so what GET /session/:id/run answers). */
export function crashScanRow(): RunSummary {
  return RunSummary.parse({
    runId: "run_one",
    sessionId: SESSION,
    seq: 9,
    instance: { instanceId: "ins_a", generation: 1 },
    model: "scripted/slow",
    startedAt: T0,
    finishedAt: T0 + 60_000,
    classification: "process_exit_without_finalizer",
    provider: { chunks: 0, progress: true },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    closeSite: "process_exit_without_finalizer",
    missing: ["run_summary"],
  })
}
