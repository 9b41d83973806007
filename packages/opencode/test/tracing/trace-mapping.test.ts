/**
 * The mapping from incident chains to spans, as a pure function (no exporter, no server): one
 * trace per incident rooted at the user action, the run as its own trace linked both ways, per
 * close path; a crash ends the run at its last evidence with a link to the restart's scan; a
 * forwarded run keeps the remote's part remote; a missing hop is a span named for what is
 * missing, and no parent is ever guessed.
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, test } from "vitest"
import { deriveIncidentChains, readExport, type IncidentChain } from "../../src/provenance/index.ts"
import { exportRecords } from "../../src/provenance/export-records.ts"
import { runTraceId, traceSpans, type TraceSpan } from "../../src/provenance/trace-mapping.ts"

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")
const text = readFileSync(FIXTURE, "utf8")
const read = readExport(text)
if (!read.ok) throw new Error(read.error)
const records = exportRecords(JSON.parse(text))
const chain = (runId: string) => read.incidents.find((incident) => incident.runId === runId)!
const spansFor = (chains: IncidentChain[]) => traceSpans({ chains, ...records, fallbackTimeMs: 0 })

/** Span names from the root down to `span`. */
function pathTo(spans: TraceSpan[], span: TraceSpan): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  const names: string[] = []
  for (let at: TraceSpan | undefined = span; at; at = at.parentSpanId ? byId.get(at.parentSpanId) : undefined)
    names.unshift(at.name)
  return names
}
const named = (spans: TraceSpan[], prefix: string) => spans.filter((span) => span.name.startsWith(prefix))

describe("per close path", () => {
  test("a reload clicked in the app: user action → request → lifecycle.reload → interrupt", () => {
    const spans = spansFor([chain("run_reload1")])
    const [interrupt] = named(spans, "interrupt")
    expect(pathTo(spans, interrupt!)).toEqual([
      expect.stringMatching(/^user_action /),
      "POST /instance/reload",
      "lifecycle.reload",
      "interrupt local_instance_reload",
    ])
    expect(new Set(pathTo(spans, interrupt!).map((name) => spans.find((s) => s.name === name)!.traceId)).size).toBe(1)
    expect(interrupt!.attributes["app.origin.kind"]).toBe("api_route")
  })

  test("a config edit outside the app: no user action, rooted at lifecycle.config_edit", () => {
    const spans = spansFor([chain("run_global1")])
    const [interrupt] = named(spans, "interrupt")
    const names = pathTo(spans, interrupt!)
    expect(names[0]).not.toMatch(/^user_action|^missing/)
    expect(names).toContain("lifecycle.config_edit")
    expect(spans.find((span) => span.name === "lifecycle.config_edit")!.attributes["app.origin.trigger"]).toBeDefined()
  })

  test("a user cancel: no lifecycle span; the run's trace is linked both ways", () => {
    const spans = spansFor([chain("run_cancel1")])
    expect(named(spans, "lifecycle")).toEqual([])
    const [interrupt] = named(spans, "interrupt")
    const run = spans.find((span) => span.name === "invoke_agent")!
    expect(run.traceId).toBe(runTraceId("run_cancel1"))
    expect(run.links.map((link) => link.spanId)).toEqual([interrupt!.spanId])
    expect(interrupt!.links.map((link) => link.spanId)).toEqual([run.spanId])
    expect(run.status.code).toBe("error")
  })

  test("a completed run is a run trace only, status unset", () => {
    const completed = records.runs!.filter((run) => run.classification === "completed")
    const spans = traceSpans({ chains: [], runs: completed, fallbackTimeMs: 0 })
    expect(spans.map((span) => span.name).filter((name) => name === "invoke_agent").length).toBe(completed.length)
    expect(spans.every((span) => span.status.code !== "error" || span.name.startsWith("execute_tool"))).toBe(true)
  })
})

describe("a crash", () => {
  test("the run ends at its last evidence with error.type=crash and a link to the restart's scan", () => {
    const spans = spansFor([chain("run_crash1")])
    const scan = spans.find((span) => span.name === "crash_scan")!
    const run = spans.find((span) => span.name === "invoke_agent")!
    const crash = records.crashes!.find((c) => c.runId === "run_crash1")!
    expect(run.endMs).toBe(crash.lastHeartbeatAt)
    expect(run.attributes["error.type"]).toBe("crash")
    expect(run.links).toEqual([expect.objectContaining({ spanId: scan.spanId, traceId: scan.traceId })])
    expect(scan.startMs).toBe(crash.detectedAt)
    // The possible cause is not a parent: nothing names the close that would be one.
    expect(named(spans, "lifecycle")).toEqual([])
  })
})

describe("a forwarded run and missing provenance", () => {
  const base = { lifecycle: [], requests: [], renderer: [], crashes: [] }
  const summary = (runId: string, interrupt: object | undefined, classification: string) => ({
    runId,
    sessionId: "ses_m1",
    seq: 1,
    startedAt: 1000,
    finishedAt: 2000,
    classification,
    ...(interrupt ? { interrupt } : {}),
    alsoRequestedBy: [],
    provider: { chunks: 1, progress: true },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects"] },
    missing: [],
  })

  test("remote: the interrupt names the hops the remote reported; no local span invents them", () => {
    const interrupt = {
      kind: "remote",
      seq: 2,
      at: 1500,
      runId: "run_remote1",
      sessionId: "ses_m1",
      workspaceId: "wrk_1",
      phase: "provider_streaming",
      provider: { chunks: 1, progress: true },
      watchdog: { fired: false },
      toolExecutionStarted: false,
    }
    const runs = [summary("run_remote1", interrupt, "remote_interrupted")] as any
    const chains = deriveIncidentChains({ ...base, runs })
    const spans = traceSpans({ chains, runs, fallbackTimeMs: 0 })
    const [span] = named(spans, "interrupt")
    expect(span!.attributes["app.origin.kind"]).toBe("forwarded_remote")
    expect(span!.attributes["app.workspace.id"]).toBe("wrk_1")
    expect(span!.attributes["app.remote_reported_hops"]).toEqual(
      chains[0]!.links.filter((link) => link.status === "remote_reported").map((link) => link.hop),
    )
    expect(named(spans, "missing")).toEqual([])
  })

  test("an interrupt with no cause: spans named for what is missing, status error, never a guessed parent", () => {
    const runs = [{ ...summary("run_lost1", undefined, "unknown_interrupt"), missing: ["lifecycle_action"] }] as any
    // An action that lists the run exists, but nothing says it stopped it: it must not become a parent.
    const lifecycle = [
      {
        lifecycleId: "lc_maybe1",
        seq: 1,
        operation: "dispose",
        rootOperation: "dispose",
        rootId: "lc_maybe1",
        origin: { kind: "shutdown", signal: "SIGTERM", provenance: { complete: true, missing: [] } },
        directoryKeys: [],
        directoryCount: 1,
        instances: [],
        runIds: ["run_lost1"],
        startedAt: 1400,
      },
    ] as any
    const chains = deriveIncidentChains({ ...base, runs, lifecycle })
    const spans = traceSpans({ chains, runs, lifecycle, fallbackTimeMs: 0 })
    const missing = named(spans, "missing")
    expect(missing.length).toBeGreaterThan(0)
    for (const span of missing) {
      expect(span.status.code).toBe("error")
      expect(span.attributes["app.provenance.missing"]).toEqual(
        expect.arrayContaining([span.name.slice("missing ".length)]),
      )
    }
    expect(named(spans, "lifecycle")).toEqual([])
    expect(spans.some((span) => JSON.stringify(span).includes("lc_maybe1"))).toBe(false)
    // The missing interrupt stands in its place: the verdict, the missing fields, the run's link.
    const standIn = spans.find((span) => span.name === "missing interrupt_meta")!
    expect(standIn.attributes["app.provenance.complete"]).toBe(false)
    expect(standIn.attributes["app.provenance.missing"]).toEqual(expect.arrayContaining(chains[0]!.missing))
    const run = spans.find((span) => span.name === "invoke_agent")!
    expect(run.links.map((link) => link.spanId)).toEqual([standIn.spanId])
    expect(standIn.links.map((link) => link.spanId)).toEqual([run.spanId])
  })
})

describe("an old writer's file", () => {
  test("hops it could not record are labelled not_recorded, never missing provenance", () => {
    const old = readFileSync(path.join(path.dirname(FIXTURE), "export-v1-field.json"), "utf8")
    const result = readExport(old)
    if (!result.ok) throw new Error(result.error)
    const spans = traceSpans({ chains: result.incidents, fallbackTimeMs: 0 })
    const labelled = named(spans, "not_recorded")
    expect(labelled.length).toBeGreaterThan(0)
    expect(named(spans, "missing")).toEqual([])
    for (const span of labelled) {
      expect(span.status.code).not.toBe("error")
      expect(span.attributes["app.provenance.missing"] ?? []).not.toContain(span.name.slice("not_recorded ".length))
    }
  })
})

describe("ids", () => {
  test("the same chain maps to the same ids; chains sharing a click share its spans once", () => {
    const once = spansFor([chain("run_reload1")])
    expect(spansFor([chain("run_reload1")])).toEqual(once)
    const twice = spansFor([chain("run_reload1"), chain("run_reload1")])
    expect(new Set(twice.map((span) => span.spanId)).size).toBe(twice.length)
  })

  test("a request's well-formed traceparent gives the trace id and the root; a malformed one is not used", () => {
    const reload = chain("run_reload1")
    const requestId = (reload.origin as any).request.requestId
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for (const [value, used] of [
      [traceparent, true],
      [traceparent.toUpperCase(), false],
      ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", false],
    ] as const) {
      const requests = records.requests!.map((r) => (r.requestId === requestId ? { ...r, traceparent: value } : r))
      const spans = traceSpans({ chains: [reload], ...records, requests, fallbackTimeMs: 0 })
      const root = spans.find((span) => span.name.startsWith("user_action"))!
      expect(root.traceId === "4bf92f3577b34da6a3ce929d0e0e4736", value).toBe(used)
      expect(root.spanId === "00f067aa0ba902b7").toBe(used)
    }
  })
})

describe("the app's trace for a click", () => {
  const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
  const CLICK = "00f067aa0ba902b7"
  const reload = chain("run_reload1")
  const requestId = (reload.origin as any).request.requestId as string
  const actionId = records.requests!.find((r) => r.requestId === requestId)!.actionId!
  /** The fixture's records with the click's request carrying `traceparent` and its renderer record `ids`. */
  function spansWith(traceparent: string | undefined, ids: { traceId: string; spanId: string } | undefined) {
    const requests = records.requests!.map((r) =>
      r.requestId === requestId ? { ...r, ...(traceparent ? { traceparent } : {}) } : r,
    )
    const renderer = records.renderer!.map((a) => (a.actionId === actionId ? { ...a, ...ids } : a))
    expect(renderer.some((a) => a.actionId === actionId)).toBe(true)
    const spans = traceSpans({ chains: [reload], ...records, requests, renderer, fallbackTimeMs: 0 })
    const root = spans.find((span) => span.name.startsWith("user_action"))!
    const request = spans.find((span) => span.name === "POST /instance/reload")!
    return { spans, root, request }
  }

  test("the root span's ids are the renderer record's, and the request span is its child", () => {
    const { spans, root, request } = spansWith(`00-${TRACE}-${CLICK}-01`, { traceId: TRACE, spanId: CLICK })
    expect(root).toMatchObject({ traceId: TRACE, spanId: CLICK })
    expect(root.parentSpanId).toBeUndefined()
    expect(request).toMatchObject({ traceId: TRACE, parentSpanId: CLICK })
    expect(root.attributes["app.trace.renderer_disagrees"]).toBeUndefined()
    const [interrupt] = named(spans, "interrupt")
    expect(interrupt!.traceId).toBe(TRACE)
  })

  test("a renderer record whose request kept no traceparent still gives the trace its ids", () => {
    const { root, request } = spansWith(undefined, { traceId: TRACE, spanId: CLICK })
    expect(root).toMatchObject({ traceId: TRACE, spanId: CLICK })
    expect(request.parentSpanId).toBe(CLICK)
  })

  test("when the record and the traceparent disagree, the traceparent's ids win and the root says so", () => {
    const other = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" }
    const { root, request } = spansWith(`00-${TRACE}-${CLICK}-01`, other)
    expect(root).toMatchObject({ traceId: TRACE, spanId: CLICK })
    expect(request.parentSpanId).toBe(CLICK)
    expect(root.attributes["app.trace.renderer_disagrees"]).toBe(true)
    const { root: sameTrace } = spansWith(`00-${TRACE}-${CLICK}-01`, { traceId: TRACE, spanId: other.spanId })
    expect(sameTrace.spanId).toBe(CLICK)
    expect(sameTrace.attributes["app.trace.renderer_disagrees"]).toBe(true)
  })

  test("a later version's traceparent is read by its first four fields", () => {
    const { root } = spansWith(`01-${TRACE}-${CLICK}-01-anything-more`, undefined)
    expect(root).toMatchObject({ traceId: TRACE, spanId: CLICK })
  })
})
