import { describe, expect, it } from "vitest"
import { withProvenance } from "../../src/provenance/completeness.ts"
import { deriveIncidentChains, type IncidentInput, recheckChain } from "../../src/provenance/incident-chain.ts"
import { IncidentChain, type LifecycleAction, type Origin, type RunSummary } from "../../src/provenance/schemas.ts"
import {
  appRequest,
  clientAction,
  crash,
  interruptedRun,
  interruptOf,
  lifecycleAction,
  plainRequest,
  requestContext,
  run,
} from "./records.ts"

const empty: IncidentInput = { runs: [], lifecycle: [], requests: [], renderer: [], crashes: [] }

function derive(input: Partial<IncidentInput>) {
  const chains = deriveIncidentChains({ ...empty, ...input })
  // Every chain must be a valid export record.
  for (const chain of chains) expect(IncidentChain.parse(chain)).toEqual(chain)
  return chains
}

function only(input: Partial<IncidentInput>) {
  const chains = derive(input)
  expect(chains).toHaveLength(1)
  return chains[0]!
}

const statuses = (chain: { links: { hop: string; status: string }[] }) =>
  Object.fromEntries(chain.links.map((link) => [link.hop, link.status]))

const reloadFromApp = lifecycleAction("lc_reload", "reload", { kind: "api_route", request: appRequest() })

describe("deriveIncidentChains: verdicts", () => {
  it("diagnosed: an app reload with its action id, every hop present", () => {
    const chain = only({
      runs: [interruptedRun("run_a", reloadFromApp)],
      lifecycle: [reloadFromApp],
      requests: [requestContext(appRequest())],
      renderer: [clientAction("act_reload1", "instance.reload", ["req_app1"])],
    })
    expect(chain).toMatchObject({
      runId: "run_a",
      sessionId: "ses_one",
      classification: "local_instance_reload",
      verdict: "diagnosed",
      operation: "reload",
      rootOperation: "reload",
      lifecycleId: "lc_reload",
      instanceId: "ins_one",
      generation: 1,
      phase: "provider_streaming",
      missing: [],
      rendererAction: { actionId: "act_reload1", name: "instance.reload", page: "/session/:id" },
      requestRecord: { requestId: "req_app1", seq: 1, time: 1_001 },
    })
    expect(chain.origin).toMatchObject({ kind: "api_route", request: { route: "/instance/reload" } })
    expect(chain.links).toEqual([
      { hop: "renderer", status: "present", ref: "act_reload1", source: "client_reported" },
      { hop: "request", status: "present", ref: "req_app1", source: "server" },
      { hop: "lifecycle", status: "present", ref: "lc_reload", source: "server" },
      { hop: "interrupt", status: "present", source: "server" },
      { hop: "run_summary", status: "present", ref: "run_a", source: "server" },
    ])
  })

  it("diagnosed without the renderer's uploaded log: the request's headers are the renderer hop", () => {
    const chain = only({ runs: [interruptedRun("run_a", reloadFromApp)], lifecycle: [reloadFromApp] })
    expect(chain.verdict).toBe("diagnosed")
    expect(chain.rendererAction).toBeUndefined()
  })

  it("diagnosed from the interrupt's own copy of the action when the lifecycle list lost it", () => {
    expect(only({ runs: [interruptedRun("run_a", reloadFromApp)] }).verdict).toBe("diagnosed")
  })

  it("diagnosed: a plain client needs no renderer hop", () => {
    const dispose = lifecycleAction("lc_dispose", "dispose", { kind: "api_route", request: plainRequest() })
    const chain = only({ runs: [interruptedRun("run_a", dispose)], lifecycle: [dispose] })
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      classification: "local_instance_dispose",
      operation: "dispose",
    })
    expect(statuses(chain).renderer).toBe("not_applicable")
  })

  it("partially_diagnosed: an app request without an action id names renderer_action", () => {
    const action = lifecycleAction("lc_r", "reload", {
      kind: "api_route",
      request: appRequest({ actionId: undefined, actionName: undefined, actionHeader: "absent" }),
    })
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(chain.missing).toEqual(["renderer_action"])
    expect(statuses(chain).renderer).toBe("missing")
  })

  it("partially_diagnosed: a load_reload whose mismatch lost its request names origin.detected_during", () => {
    const action = lifecycleAction("lc_load", "load_reload", {
      kind: "context_mismatch",
      reason: "worktree_mismatch",
      before: "aaaaaaaa",
      after: "bbbbbbbb",
    })
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain).toMatchObject({
      verdict: "partially_diagnosed",
      classification: "local_instance_reload",
      operation: "load_reload",
      missing: ["origin.detected_during"],
    })
    expect(statuses(chain)).toMatchObject({ renderer: "not_applicable", request: "missing" })
  })

  it("partially_diagnosed: a config change our route wrote, without its request", () => {
    const action = lifecycleAction("lc_cfg", "dispose_directory", {
      kind: "config_invalidation",
      scope: "project",
      fileKey: "aaaaaaaa",
      change: "modified",
      writtenByRoute: true,
    })
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain).toMatchObject({ verdict: "partially_diagnosed", missing: ["origin.request"] })
  })

  it("diagnosed: an external config edit needs no request", () => {
    const action = lifecycleAction("lc_cfg", "dispose_directory", {
      kind: "config_invalidation",
      scope: "project",
      fileKey: "aaaaaaaa",
      change: "modified",
    })
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain.verdict).toBe("diagnosed")
    expect(statuses(chain).request).toBe("not_applicable")
  })

  it("recomputes provenance: a stored claim of completeness does not make a chain diagnosed", () => {
    const liar: Origin = { kind: "api_route", provenance: { complete: true, missing: [] } }
    const action = lifecycleAction("lc_r", "reload", liar)
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(chain.missing).toContain("origin.request")
  })

  it("missing_provenance: an abort whose reason was not an InterruptMeta", () => {
    const chain = only({
      runs: [
        run("run_u", {
          classification: "unknown_interrupt",
          closeSite: "scope_finalizer",
          missing: ["lifecycle_action"],
        }),
      ],
    })
    expect(chain).toMatchObject({
      verdict: "missing_provenance",
      classification: "unknown_interrupt",
      origin: { kind: "unknown", closeSite: "scope_finalizer" },
    })
    expect(chain.missing).toEqual(["lifecycle_action", "interrupt_meta"])
    expect(chain.operation).toBeUndefined()
  })

  it("missing_provenance: a lifecycle classification with no origin at all (current writer)", () => {
    const chain = only({ runs: [run("run_a", { classification: "local_instance_reload" })] })
    expect(chain).toMatchObject({
      verdict: "missing_provenance",
      operation: "reload",
      rootOperation: "reload",
      origin: { kind: "unknown" },
    })
    expect(chain.missing).toContain("lifecycle_action")
  })

  it("missing_provenance: an unknown origin on a recorded lifecycle action is never partially diagnosed", () => {
    const action = lifecycleAction(
      "lc_u",
      "dispose",
      withProvenance({ kind: "unknown", closeSite: "legacy_caller" }, { unknownMissing: ["origin"] }),
    )
    const chain = only({ runs: [interruptedRun("run_a", action)], lifecycle: [action] })
    expect(chain).toMatchObject({ verdict: "missing_provenance", missing: ["origin"] })
    expect(statuses(chain).lifecycle).toBe("present")
  })

  it("remote_reported: a forwarded run closed by the remote", () => {
    const summary = run("run_r", {
      classification: "remote_interrupted",
      interrupt: interruptOf("remote", "run_r", { workspaceId: "ws_remote" }),
    })
    const chain = only({ runs: [summary] })
    expect(chain).toMatchObject({
      verdict: "remote_reported",
      origin: { kind: "forwarded_remote", workspaceId: "ws_remote" },
    })
    expect(statuses(chain)).toMatchObject({
      renderer: "remote_reported",
      request: "remote_reported",
      lifecycle: "remote_reported",
      interrupt: "present",
    })
  })

  it("crash_evidence: a run whose process ended, with its possible cause carried but not attributed", () => {
    const chain = only({
      crashes: [
        crash("run_c", {
          possibleCause: { lifecycleId: "lc_unfinished", operation: "dispose" },
          visibleOutput: true,
          tools: [],
        }),
      ],
      lifecycle: [reloadFromApp],
    })
    expect(chain).toMatchObject({
      verdict: "crash_evidence",
      classification: "process_exit_without_finalizer",
      possibleCause: { lifecycleId: "lc_unfinished", operation: "dispose" },
      retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    })
    expect(chain.lifecycleId).toBeUndefined()
    expect(chain.operation).toBeUndefined()
    expect(chain.missing).toEqual(["run_summary", "interrupt_meta"])
    expect(statuses(chain)).toEqual({
      renderer: "not_applicable",
      request: "not_applicable",
      lifecycle: "not_applicable",
      interrupt: "missing",
      run_summary: "missing",
    })
  })

  it("crash evidence without tool facts has an unknown retry, and a journalled write is not safe", () => {
    expect(only({ crashes: [crash("run_c")] }).retry).toEqual({ safe: "unknown", basis: ["tool_facts_not_recorded"] })
    const write = { callId: "c1", name: "write", kind: "write", startedAt: 1_100, status: "running" }
    expect(only({ crashes: [crash("run_c", { tools: [write] })] }).retry.safe).toBe(false)
  })

  it("a crashed run with abort_requested reads as that close, missing only its run summary", () => {
    const chain = only({
      crashes: [crash("run_c", { abortRequested: { lifecycleId: "lc_reload", seq: 41 } })],
      lifecycle: [reloadFromApp],
    })
    expect(chain).toMatchObject({
      classification: "local_instance_reload",
      verdict: "partially_diagnosed",
      lifecycleId: "lc_reload",
      operation: "reload",
      missing: ["run_summary"],
    })
    expect(chain.links.find((link) => link.hop === "interrupt")).toEqual({
      hop: "interrupt",
      status: "present",
      ref: "abort_requested:41",
      source: "server",
    })
  })

  it("an abort_requested naming an action that is not recorded attributes nothing", () => {
    const chain = only({ crashes: [crash("run_c", { abortRequested: { lifecycleId: "lc_gone", seq: 41 } })] })
    expect(chain).toMatchObject({
      classification: "unknown_interrupt",
      verdict: "missing_provenance",
      lifecycleId: "lc_gone",
    })
    expect(chain.missing).toEqual(["lifecycle_action", "run_summary"])
  })
})

describe("deriveIncidentChains: stops that are not lifecycle closes", () => {
  it("user cancel: an api_route origin from the cancel request, no lifecycle hop", () => {
    const cancel = appRequest({
      requestId: "req_cancel",
      route: "/session/:id/abort",
      actionId: "act_stop",
      actionName: "session.abort",
    })
    const chain = only({
      runs: [
        run("run_a", {
          classification: "user_cancelled",
          interrupt: interruptOf("user_cancel", "run_a", { request: cancel }),
        }),
      ],
    })
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      origin: { kind: "api_route", request: { requestId: "req_cancel" } },
    })
    expect(statuses(chain)).toMatchObject({
      renderer: "present",
      request: "present",
      lifecycle: "not_applicable",
      interrupt: "present",
    })
  })

  it("user cancel without its request is partially diagnosed", () => {
    const chain = only({
      runs: [run("run_a", { classification: "user_cancelled", interrupt: interruptOf("user_cancel", "run_a") })],
    })
    expect(chain).toMatchObject({ verdict: "partially_diagnosed", missing: ["origin.request"] })
  })

  it("watchdog: the server's watchdog handler", () => {
    const chain = only({
      runs: [
        run("run_w", {
          classification: "watchdog_timeout",
          interrupt: interruptOf("watchdog", "run_w"),
          visibleOutput: false,
        }),
      ],
    })
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      origin: { kind: "server_handler", handler: "watchdog" },
      phase: "provider_waiting",
    })
  })

  it.each(["provider_error", "tool_error"] as const)(
    "%s: a server_handler origin with no interrupt hop, and the kept error",
    (classification) => {
      const error = { code: "ECONNRESET", class: "Error", status: 502, excerpt: "socket hang up" }
      const chain = only({ runs: [run("run_e", { classification, error })] })
      expect(chain).toMatchObject({
        verdict: "diagnosed",
        origin: { kind: "server_handler", handler: classification === "provider_error" ? "provider" : "tool" },
        error,
      })
      expect(statuses(chain)).toMatchObject({
        lifecycle: "not_applicable",
        interrupt: "not_applicable",
        run_summary: "present",
      })
    },
  )

  it("completed runs get no chain", () => {
    expect(derive({ runs: [run("run_ok", { classification: "completed" })] })).toEqual([])
  })
})

describe("deriveIncidentChains: joins", () => {
  it("dispose_all → dispose_directory: classified by the root, initiated by the root's origin, path shown", () => {
    const root = lifecycleAction("lc_all", "dispose_all", {
      kind: "config_invalidation",
      scope: "global",
      fileKey: "cccccccc",
      change: "modified",
    })
    const child = lifecycleAction(
      "lc_dir",
      "dispose_directory",
      { kind: "server_handler", handler: "dispose_all_child" },
      { parentId: "lc_all", rootId: "lc_all", rootOperation: "dispose_all" },
    )
    const chain = only({ runs: [interruptedRun("run_a", child)], lifecycle: [child, root] })
    expect(chain).toMatchObject({
      classification: "local_instance_dispose_all",
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      lifecycleId: "lc_dir",
      rootLifecycleId: "lc_all",
      origin: { kind: "config_invalidation", scope: "global" },
      lifecyclePath: [
        { lifecycleId: "lc_all", operation: "dispose_all" },
        { lifecycleId: "lc_dir", operation: "dispose_directory" },
      ],
      verdict: "diagnosed",
    })
  })

  it("shutdown fans out: every run reads as dispose_all from the signal", () => {
    const root = lifecycleAction("lc_sig", "dispose_all", { kind: "shutdown", signal: "SIGTERM" })
    const children = ["a", "b"].map((n) =>
      lifecycleAction(
        `lc_child_${n}`,
        "dispose_directory",
        { kind: "shutdown", signal: "SIGTERM" },
        { parentId: "lc_sig", rootId: "lc_sig", rootOperation: "dispose_all" },
      ),
    )
    const chains = derive({
      runs: children.map((child, i) => interruptedRun(`run_${i}`, child)),
      lifecycle: [root, ...children],
    })
    expect(chains.map((chain) => [chain.classification, chain.origin.kind, chain.verdict])).toEqual([
      ["local_instance_dispose_all", "shutdown", "diagnosed"],
      ["local_instance_dispose_all", "shutdown", "diagnosed"],
    ])
  })

  it("copies alsoRequestedBy and the retry verdict from the summary", () => {
    const also = [
      {
        seq: 50,
        at: 2_300,
        kind: "lifecycle",
        lifecycleId: "lc_late",
        operation: "dispose",
        originKind: "api_route",
        late: false,
      },
    ]
    const write = {
      callId: "c1",
      name: "write",
      kind: "write",
      startedAt: 1_600,
      completedAt: 1_700,
      status: "completed",
    }
    const chain = only({
      runs: [interruptedRun("run_a", reloadFromApp, { alsoRequestedBy: also, tools: [write] })],
      lifecycle: [reloadFromApp],
    })
    expect(chain.alsoRequestedBy).toEqual(also)
    expect(chain.retry).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
  })

  it("keeps retry independent of the cause: same facts, different closes, same verdict", () => {
    const shutdown = lifecycleAction("lc_s", "dispose_all", { kind: "shutdown", signal: "SIGINT" })
    const chains = derive({
      runs: [
        interruptedRun("run_a", reloadFromApp),
        interruptedRun("run_b", shutdown),
        run("run_c", { classification: "unknown_interrupt" }),
      ],
      lifecycle: [reloadFromApp, shutdown],
    })
    expect(new Set(chains.map((chain) => JSON.stringify(chain.retry))).size).toBe(1)
  })

  it("a placeholder summary for a run that never settled shows the run summary as missing", () => {
    const chain = only({
      runs: [interruptedRun("run_a", reloadFromApp, { classification: "unknown_interrupt", missing: ["run_summary"] })],
      lifecycle: [reloadFromApp],
    })
    expect(chain).toMatchObject({ verdict: "partially_diagnosed", missing: ["run_summary"] })
    expect(statuses(chain).run_summary).toBe("missing")
  })

  it("an unattributed run names the one recorded action that listed it as a possible cause only", () => {
    const dispose = lifecycleAction(
      "lc_d",
      "dispose",
      { kind: "api_route", request: plainRequest() },
      { runIds: ["run_a"] },
    )
    const chain = only({ runs: [run("run_a", { classification: "local_instance_dispose" })], lifecycle: [dispose] })
    expect(chain).toMatchObject({
      verdict: "missing_provenance",
      possibleCause: { lifecycleId: "lc_d", operation: "dispose" },
    })
    expect(chain.lifecycleId).toBeUndefined()
  })

  it("one chain per run: crash evidence wins over a process-exit summary, a finalized summary over crash evidence", () => {
    const chains = derive({
      runs: [
        run("run_x", { classification: "process_exit_without_finalizer" }),
        run("run_done", { classification: "completed" }),
        run("run_y", { classification: "user_cancelled" }),
      ],
      crashes: [crash("run_x"), crash("run_done"), crash("run_y"), crash("run_x")],
    })
    expect(chains.map((chain) => [chain.runId, chain.verdict])).toEqual([
      ["run_y", "partially_diagnosed"],
      ["run_x", "crash_evidence"],
    ])
  })

  it("a process-exit summary with no crash record is still crash evidence", () => {
    expect(only({ runs: [run("run_x", { classification: "process_exit_without_finalizer" })] }).verdict).toBe(
      "crash_evidence",
    )
  })

  it("survives a cycle in parent ids", () => {
    const a = lifecycleAction(
      "lc_a",
      "dispose_directory",
      { kind: "shutdown", signal: "SIGTERM" },
      { parentId: "lc_b", rootId: "lc_b", rootOperation: "dispose_all" },
    )
    const b = lifecycleAction(
      "lc_b",
      "dispose_all",
      { kind: "shutdown", signal: "SIGTERM" },
      { parentId: "lc_a", rootId: "lc_a" },
    )
    const chain = only({ runs: [interruptedRun("run_a", a)], lifecycle: [a, b] })
    expect(chain.lifecyclePath).toHaveLength(2)
  })
})

describe("deriveIncidentChains: records an older writer could not hold", () => {
  it("labels absent provenance not_recorded_by_writer, not missing", () => {
    const chain = only({ runs: [run("run_a", { classification: "local_instance_reload" })], writerVersion: 1 })
    expect(chain).toMatchObject({
      verdict: "partially_diagnosed",
      operation: "reload",
      origin: { kind: "not_recorded_by_writer" },
      missing: [],
    })
    expect(statuses(chain)).toEqual({
      renderer: "not_recorded_by_writer",
      request: "not_recorded_by_writer",
      lifecycle: "not_recorded_by_writer",
      interrupt: "not_recorded_by_writer",
      run_summary: "present",
    })
    expect(chain.notRecorded).toEqual(expect.arrayContaining(["origin", "lifecycle_action", "renderer_action"]))
  })

  it("a hop the old writer could not record keeps a complete origin from reading as diagnosed", () => {
    // The watchdog's origin needs nothing more, so only the unrecorded interrupt hop stands between this and `diagnosed`.
    const chain = only({
      runs: [run("run_w", { classification: "watchdog_timeout", visibleOutput: false })],
      writerVersion: 1,
    })
    expect(chain.origin).toMatchObject({
      kind: "server_handler",
      handler: "watchdog",
      provenance: { complete: true, missing: [] },
    })
    expect(statuses(chain).interrupt).toBe("not_recorded_by_writer")
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(chain.notRecorded).toContain("interrupt_meta")
  })

  it("an old writer's own unknown_interrupt stays missing_provenance", () => {
    expect(only({ runs: [run("run_a", { classification: "unknown_interrupt" })], writerVersion: 1 }).verdict).toBe(
      "missing_provenance",
    )
  })
})

describe("recheckChain", () => {
  const diagnosed = () =>
    only({
      runs: [interruptedRun("run_a", reloadFromApp)],
      lifecycle: [reloadFromApp],
      requests: [requestContext(appRequest())],
    })

  it("keeps a chain whose links support its verdict", () => {
    const chain = diagnosed()
    expect(recheckChain(chain)).toEqual(chain)
  })

  it("downgrades a hand-edited diagnosed chain whose required hops were removed", () => {
    const edited = { ...diagnosed(), links: [] }
    const checked = recheckChain(edited)
    expect(checked.verdict).toBe("partially_diagnosed")
    expect(checked.missing).toEqual(expect.arrayContaining(["lifecycle_action", "run_summary"]))
  })

  it("a required hop relabelled not_applicable reads as missing, so the chain is not diagnosed", () => {
    const chain = diagnosed()
    const relabelled = {
      ...chain,
      links: chain.links.map((link) =>
        link.hop === "lifecycle" ? { hop: link.hop, status: "not_applicable" as const } : link,
      ),
    }
    const checked = recheckChain(relabelled)
    expect(checked.links.find((link) => link.hop === "lifecycle")?.status).toBe("missing")
    expect(checked.missing).toContain("lifecycle_action")
    expect(checked.verdict).toBe("partially_diagnosed")
  })

  it("a link the file says its writer could not record keeps an otherwise complete chain from diagnosed", () => {
    const chain = diagnosed()
    const unrecorded = {
      ...chain,
      links: chain.links.map((link) =>
        link.hop === "interrupt" ? { hop: link.hop, status: "not_recorded_by_writer" as const } : link,
      ),
    }
    expect(recheckChain(unrecorded).verdict).toBe("partially_diagnosed")
  })

  it("downgrades a diagnosed chain whose origin is incomplete, and one whose origin is not understood", () => {
    const chain = diagnosed()
    const noRequest = recheckChain({
      ...chain,
      origin: { kind: "api_route", provenance: { complete: true, missing: [] } },
    })
    expect(noRequest.verdict).toBe("partially_diagnosed")
    expect(recheckChain({ ...chain, origin: { kind: "telepathy" } }).verdict).toBe("missing_provenance")
  })
})

describe("deriveIncidentChains: scale", () => {
  // Its time is measured by the bench (npm run bench, the export part's derivation row), not here.
  it("derives 100k runs against 100k requests, each diagnosed against its own request", () => {
    const n = 100_000
    const lifecycle: LifecycleAction[] = []
    const runs: RunSummary[] = []
    const requests = []
    const template = interruptedRun("run_0", reloadFromApp)
    for (let i = 0; i < n; i++) {
      const request = appRequest({ requestId: `req_${i}`, actionId: `act_${i}` })
      requests.push(requestContext(request, i))
      if (i % 10 === 0) {
        // Built directly, not through zod: this measures derivation, not parsing.
        const action = {
          ...reloadFromApp,
          lifecycleId: `lc_${i}` as LifecycleAction["lifecycleId"],
          rootId: `lc_${i}` as LifecycleAction["rootId"],
          origin: withProvenance({ kind: "api_route", request }),
        }
        lifecycle.push(action)
      }
      const closer = lifecycle.at(-1)!
      runs.push({
        ...template,
        runId: `run_${i}` as RunSummary["runId"],
        interrupt: {
          ...template.interrupt!,
          runId: `run_${i}` as RunSummary["runId"],
          lifecycle: {
            ...template.interrupt!.lifecycle!,
            lifecycleId: closer.lifecycleId,
            rootId: closer.rootId,
            origin: closer.origin,
          },
        },
      })
    }
    const chains = deriveIncidentChains({ runs, lifecycle, requests, renderer: [], crashes: [] })
    expect(chains).toHaveLength(n)
    expect(chains.every((chain) => chain.verdict === "diagnosed")).toBe(true)
  })
})
