/**
 * The streamed export derives its incident chains a page of runs at a time: with pages of a few
 * runs, the chains whose records span pages (resend links, a lifecycle action shared by runs on
 * different pages, a possible cause named only by a later page's run, crash chains) must be
 * exactly the whole derivation's, and the text the same bytes as the built document.
 */
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import {
  buildSessionDiagnostics,
  buildSessionExport,
  sessionExportText,
  sessionIncidentsText,
} from "../../src/session/export.ts"
import type { RunSummary } from "../../src/provenance/schemas.ts"
import { traceSpans } from "../../src/provenance/trace-mapping.ts"
import { runSpans } from "../../src/tracing/server-tracing.ts"
import { tempDir } from "../harness.ts"
import { insertRun, insertSession, sameTime } from "./stored-records.ts"
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
} from "../provenance/records.ts"

const TOTAL_RUNS = 30
const startedAt = (i: number) => 10_000 + 100 * i - (i === 15 ? 100 : 0)

let dataDir: string
let host: Host

beforeAll(() => {
  dataDir = tempDir("oc-paged-")
  host = createHost({ dataDir, readOnly: true })
  insertSession(host.db, "ses_one")
  // A dispose of every directory whose child closed runs 2 and 17 (pages apart).
  const root = lifecycleAction("lc_root", "dispose_all", { kind: "api_route", request: plainRequest() }, { seq: 50 })
  const child = lifecycleAction(
    "lc_child",
    "dispose_directory",
    { kind: "api_route", request: plainRequest() },
    { parentId: "lc_root", rootId: "lc_root", rootOperation: "dispose_all", runIds: ["run_p2", "run_p17"], seq: 51 },
  )
  // A reload named only by run 25, which also lists run 1: run 1's possible cause.
  const late = lifecycleAction(
    "lc_late",
    "reload",
    { kind: "api_route", request: appRequest() },
    { runIds: ["run_p1", "run_p25"], seq: 60 },
  )
  for (const action of [root, child, late])
    host.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
  host.journal.append("request", {}, requestContext(appRequest(), 59))
  host.journal.append("request", {}, requestContext(plainRequest(), 49))
  host.journal.append("renderer", {}, clientAction("act_reload1", "instance.reload", ["req_app1"]))
  for (let i = 0; i < 6; i++)
    host.journal.append(
      "request",
      { sessionId: "ses_one" },
      requestContext(plainRequest({ requestId: `req_own${i}`, route: "/session/:id/prompt" }), 1000 + i),
    )

  const summaryOf = (runId: string, i: number): RunSummary | undefined => {
    const timing = { seq: 10 * i + 5, startedAt: startedAt(i), finishedAt: startedAt(i) + 50 }
    switch (i) {
      case 1:
        return run(runId, { ...timing, classification: "unknown_interrupt", missing: ["lifecycle_action"] })
      case 2:
      case 17:
        return interruptedRun(runId, child, timing)
      case 4:
        return run(runId, {
          ...timing,
          classification: "user_cancelled",
          interrupt: interruptOf("user_cancel", runId, {
            request: plainRequest({ requestId: "req_cancel", route: "/session/:id/abort" }),
          }),
        })
      case 7:
        return run(runId, { ...timing, classification: "process_exit_without_finalizer" })
      case 9:
        return undefined // still going when the export reads it: no summary
      case 11:
        return run(runId, { ...timing, classification: "completed", resendOf: "run_p4" })
      case 20:
        return run(runId, {
          ...timing,
          classification: "watchdog_timeout",
          resendOf: "run_p4",
          interrupt: interruptOf("watchdog", runId),
        })
      case 25:
        return interruptedRun(runId, late, timing)
      default:
        return run(runId, { ...timing, classification: "completed" })
    }
  }
  for (let i = 0; i < TOTAL_RUNS; i++) {
    const runId = `run_p${i}`
    insertRun(host.sessions, runId, startedAt(i), summaryOf(runId, i))
  }
  // A damaged summary (not JSON) and one another build wrote that does not fit the schema: both left out everywhere.
  host.db.prepare("UPDATE run SET summary = 'not json' WHERE id = 'run_p12'").run()
  host.db
    .prepare("UPDATE run SET summary = ?, summary_boot = 'boot_other' WHERE id = 'run_p13'")
    .run(JSON.stringify({ runId: "run_p13", classification: "user_cancelled" }))
  // Crash evidence: run 7's (its summary defers to it), run 9's (no summary) closed by the shared
  // child action, and a run with no row at all that resent run 20.
  host.journal.append("crash.detected", { runId: "run_p7", sessionId: "ses_one" }, crash("run_p7"))
  host.journal.append(
    "crash.detected",
    { runId: "run_p9", sessionId: "ses_one" },
    crash("run_p9", { abortRequested: { lifecycleId: "lc_child", seq: 52 } }),
  )
  host.journal.append(
    "crash.detected",
    { runId: "run_x1", sessionId: "ses_one" },
    crash("run_x1", { startedAt: 20_000, resendOf: "run_p20" }),
  )
})

afterAll(() => {
  host.close()
  rmSync(dataDir, { recursive: true, force: true })
})

describe("incidents a page of runs at a time", () => {
  test("the runs are read in pages of the given size, in the order of runSummaries (ties broken by row)", () => {
    const pages = vi.spyOn(host.sessions, "runSummaryPage")
    try {
      const text = [...sessionExportText(host, "ses_one", "diagnostics", { runPage: 3 })!].join("")
      // The scan, the runs list and the incidents each read 30 runs in pages of 3 (the last page full: one empty read after it).
      expect(pages).toHaveBeenCalledTimes(3 * 11)
      const order = (JSON.parse(text).diagnostics.runs as { runId: string }[]).map((r) => r.runId)
      // runSummaries lists run 13 (its text is JSON); the export leaves it out (it does not fit the schema).
      expect(order).toEqual(
        host.sessions
          .runSummaries("ses_one")
          .map((r) => r.runId)
          .filter((id) => id !== "run_p13"),
      )
      expect(order.indexOf("run_p15")).toBe(order.indexOf("run_p14") + 1)
    } finally {
      pages.mockRestore()
    }
    let after: Parameters<typeof host.sessions.runSummaryPage>[1]
    const paged: string[] = []
    do {
      const read = host.sessions.runSummaryPage("ses_one", after, 3)
      paged.push(...read.runs.filter((r) => r.summary()).map((r) => r.runId))
      after = read.next
    } while (after)
    expect(paged).toEqual(host.sessions.runSummaries("ses_one").map((r) => r.runId))
  })

  test("chains spanning pages are the whole derivation's: resends, a shared action, a possible cause, crashes", () => {
    const built = buildSessionExport(host, "ses_one", "diagnostics")!
    const streamed = JSON.parse([...sessionExportText(host, "ses_one", "diagnostics", { runPage: 3 })!].join(""))
    const chain = (runId: string) => streamed.incidents.find((c: { runId: string }) => c.runId === runId)
    expect(streamed.incidents.map((c: { runId: string }) => c.runId)).toEqual([
      "run_p1",
      "run_p2",
      "run_p4",
      "run_p17",
      "run_p20",
      "run_p25",
      "run_p7",
      "run_p9",
      "run_x1",
    ])
    // Resend links across pages: run 4 was sent again as 11 and later as 20; 20 again as x1 (a crash).
    expect(chain("run_p4").resentAs).toEqual({ runId: "run_p20", classification: "watchdog_timeout" })
    expect(chain("run_p20").resendOf).toBe("run_p4")
    expect(chain("run_p20").resentAs).toEqual({ runId: "run_x1" })
    expect(chain("run_x1").resendOf).toBe("run_p20")
    // The shared child action and its root, for runs on pages 1 and 6 and the crash of run 9.
    for (const runId of ["run_p2", "run_p17", "run_p9"])
      expect(chain(runId).lifecyclePath.map((a: { lifecycleId: string }) => a.lifecycleId)).toEqual([
        "lc_root",
        "lc_child",
      ])
    // Run 1 on page 1 is listed by an action only run 25 (page 9) names.
    expect(chain("run_p1").possibleCause).toEqual({ lifecycleId: "lc_late", operation: "reload" })
    expect(chain("run_p25").rendererAction?.actionId).toBe("act_reload1")
    expect(chain("run_p7").verdict).toBe("crash_evidence")
    expect(streamed.incidents).toEqual(built.incidents)
  })

  test("the same bytes as the built document for every page size, cap and form; the incident route the same chains", async () => {
    for (const runPage of [1, 2, 3, 4, 7, 29, 30, 31, 512])
      for (const cap of [5000, 12, 8, 3, 0])
        for (const content of ["full", "diagnostics"] as const) {
          const built = buildSessionExport(host, "ses_one", content, cap)!
          const text = [...sessionExportText(host, "ses_one", content, { cap, runPage })!].join("")
          expect(sameTime(text), `page ${runPage}, cap ${cap}, ${content}`).toBe(sameTime(JSON.stringify(built)))
        }
    // With a cap below the incidents, the lists keep the most recent linked records, yet every chain is exported.
    const capped = buildSessionExport(host, "ses_one", "diagnostics", 3)!
    expect(capped.diagnostics.truncated.runs).toEqual({ kept: 3, dropped: 24 })
    expect(capped.incidents).toHaveLength(9)
    // Room beside the 7 summaries of runs with a chain: the most recent of the rest (completed runs), all in start order.
    const roomy = buildSessionExport(host, "ses_one", "diagnostics", 12)!
    expect(roomy.diagnostics.runs.map((r) => r.runId)).toEqual(
      [1, 2, 4, 7, 17, 20, 24, 25, 26, 27, 28, 29].map((i) => `run_p${i}`),
    )
    expect(JSON.parse([...sessionIncidentsText(host, "ses_one")!].join(""))).toEqual(
      buildSessionExport(host, "ses_one")!.incidents,
    )
  })

  test("the diagnostics alone (what a run's trace reads) are the export's, and no message is read for them", () => {
    const messages = vi.spyOn(host.sessions, "messages")
    const pages = vi.spyOn(host.sessions, "messagePage")
    try {
      for (const cap of [5000, 8, 0]) {
        const built = buildSessionExport(host, "ses_one", "diagnostics", cap)!
        const alone = buildSessionDiagnostics(host, "ses_one", cap)!
        const before = messages.mock.calls.length + pages.mock.calls.length
        expect(alone.diagnostics, `cap ${cap}`).toEqual(built.diagnostics)
        expect(alone.incidents, `cap ${cap}`).toEqual(built.incidents)
        expect(messages.mock.calls.length + pages.mock.calls.length).toBe(before)
        // buildSessionExport read them, the diagnostics alone did not.
        expect(messages.mock.calls.length).toBeGreaterThan(0)
      }
      expect(buildSessionDiagnostics(host, "ses_none")).toBeUndefined()
    } finally {
      messages.mockRestore()
      pages.mockRestore()
    }
  })
})

describe("one run's trace", () => {
  test("each run's spans, from its chain and the records it reaches, are those of the whole export's diagnostics", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_234_567)
    const whole = vi.spyOn(host.sessions, "runSummaries")
    const messages = vi.spyOn(host.sessions, "messagePage")
    try {
      const doc = buildSessionDiagnostics(host, "ses_one")!
      whole.mockClear()
      const runIds = [...Array.from({ length: TOTAL_RUNS }, (_, i) => `run_p${i}`), "run_x1", "run_none"]
      let traced = 0
      for (const runId of runIds) {
        const expected = traceSpans({
          chains: doc.incidents.filter((chain) => chain.runId === runId),
          runs: doc.diagnostics.runs.filter((run) => run.runId === runId),
          crashes: doc.diagnostics.crashes.filter((crash) => crash.runId === runId),
          requests: doc.diagnostics.requests,
          renderer: doc.diagnostics.renderer,
          lifecycle: doc.diagnostics.lifecycle,
          fallbackTimeMs: doc.exportedAt,
        })
        expect(await runSpans(host, "ses_one", runId), runId).toEqual(expected)
        if (expected.length > 0) traced++
      }
      // Every run has spans (completed, interrupted, crashed with or without a summary, the crash with no run
      // row), but the two whose summaries are damaged (12, 13), and the run that does not exist.
      expect(traced).toBe(TOTAL_RUNS - 2 + 1)
      expect(await runSpans(host, "ses_none", "run_p1")).toEqual([])
      expect(whole).not.toHaveBeenCalled()
      expect(messages).not.toHaveBeenCalled()
    } finally {
      vi.restoreAllMocks()
    }
  })
})

describe("a crashed run whose summary was written after all (a finalizer ran), a page apart", () => {
  let dir: string
  let other: Host
  beforeAll(() => {
    dir = tempDir("oc-paged-crash-")
    other = createHost({ dataDir: dir, readOnly: true })
    insertSession(other.db, "ses_one")
    // Runs 0 (cancelled) and 2 (completed) have crash evidence too; run 1's summary defers to its crash.
    const summaries: RunSummary[] = [
      run("run_c0", {
        seq: 5,
        startedAt: 1_000,
        finishedAt: 1_050,
        classification: "user_cancelled",
        interrupt: interruptOf("user_cancel", "run_c0"),
      }),
      run("run_c1", { seq: 15, startedAt: 1_100, finishedAt: 1_150, classification: "process_exit_without_finalizer" }),
      run("run_c2", { seq: 25, startedAt: 1_200, finishedAt: 1_250, classification: "completed" }),
    ]
    for (const summary of summaries) insertRun(other.sessions, summary.runId, summary.startedAt, summary)
    for (const runId of ["run_c0", "run_c1", "run_c2"])
      other.journal.append("crash.detected", { runId, sessionId: "ses_one" }, crash(runId))
  })
  afterAll(() => {
    other.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test("its summary is its chain (or its end, when it completed) on every page size, and no crash chain is added", () => {
    const built = buildSessionExport(other, "ses_one", "diagnostics")!
    expect(built.incidents.map((c) => [c.runId, c.verdict === "crash_evidence"])).toEqual([
      ["run_c0", false],
      ["run_c1", true],
    ])
    for (const runPage of [1, 2, 3]) {
      const text = [...sessionExportText(other, "ses_one", "diagnostics", { runPage })!].join("")
      expect(sameTime(text), `page ${runPage}`).toBe(sameTime(JSON.stringify(built)))
    }
  })
})
