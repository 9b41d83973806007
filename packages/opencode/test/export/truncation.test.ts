/**
 * Truncation accounting of the export writer: with a small cap (buildSessionExport's 5th
 * parameter) every list states kept + dropped = total, every run an incident is about is kept
 * while it fits, and no incident is ever lost to the cap.
 */
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { readExport, SessionExportDocument } from "../../src/provenance/index.ts"
import { buildSessionExport, sessionExportText } from "../../src/session/export.ts"
import { writeJsonText } from "../../src/session/json-text.ts"
import { tempDir } from "../harness.ts"
import { insertRun, insertSession, sameTime } from "./stored-records.ts"
import {
  appRequest,
  interruptedRun,
  interruptOf,
  lifecycleAction,
  plainRequest,
  requestContext,
  run,
} from "../provenance/records.ts"

const TOTAL_RUNS = 40
const TOTAL_OWN_REQUESTS = 30
/** Run index → how it stopped; every other run completed. */
const INTERRUPTED: Record<number, "reload" | "cancel" | "dispose"> = { 2: "reload", 10: "cancel", 20: "dispose" }

let dataDir: string
let host: Host
const runIds: string[] = []

beforeAll(() => {
  dataDir = tempDir("oc-trunc-")
  host = createHost({ dataDir, readOnly: true })
  insertSession(host.db, "ses_one")
  const reload = lifecycleAction(
    "lc_reload",
    "reload",
    { kind: "api_route", request: appRequest() },
    { runIds: ["run_r2"], seq: 100 },
  )
  const dispose = lifecycleAction(
    "lc_dispose",
    "dispose",
    { kind: "api_route", request: plainRequest() },
    { runIds: ["run_r20"], seq: 300 },
  )
  for (const action of [reload, dispose])
    host.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
  // The initiating requests (not tagged with the session) and the session's own requests.
  host.journal.append("request", {}, requestContext(appRequest(), 99))
  host.journal.append("request", {}, requestContext(plainRequest(), 299))
  for (let i = 0; i < TOTAL_OWN_REQUESTS; i++)
    host.journal.append(
      "request",
      { sessionId: "ses_one" },
      requestContext(plainRequest({ requestId: `req_own${i}`, route: "/session/:id/prompt" }), 1000 + i),
    )

  for (let i = 0; i < TOTAL_RUNS; i++) {
    const runId = `run_r${i}`
    runIds.push(runId)
    const timing = { seq: 10 * i + 5, startedAt: 10_000 + 100 * i, finishedAt: 10_050 + 100 * i }
    const kind = INTERRUPTED[i]
    const summary =
      kind === "reload"
        ? interruptedRun(runId, reload, timing)
        : kind === "dispose"
          ? interruptedRun(runId, dispose, timing)
          : kind === "cancel"
            ? run(runId, {
                ...timing,
                classification: "user_cancelled",
                interrupt: interruptOf("user_cancel", runId, {
                  sessionId: "ses_one",
                  request: plainRequest({ requestId: "req_cancel", route: "/session/:id/abort" }),
                }),
              })
            : run(runId, { ...timing, classification: "completed" })
    insertRun(host.sessions, runId, timing.startedAt, summary)
  }
})

afterAll(() => {
  host.close()
  rmSync(dataDir, { recursive: true, force: true })
})

const interruptedIds = Object.keys(INTERRUPTED).map((i) => `run_r${i}`)
const chainFacts = (chains: any[]) =>
  chains
    .map((c) => ({
      runId: c.runId,
      classification: c.classification,
      verdict: c.verdict,
      missing: c.missing,
      retry: c.retry,
    }))
    .sort((a, b) => a.runId.localeCompare(b.runId))

describe("buildSessionExport with a cap", () => {
  test("uncapped (the default cap): everything kept, nothing stated as truncated", () => {
    const doc = buildSessionExport(host, "ses_one", "diagnostics")!
    expect(doc.diagnostics.runs).toHaveLength(TOTAL_RUNS)
    expect(doc.diagnostics.requests).toHaveLength(TOTAL_OWN_REQUESTS + 2)
    expect(doc.diagnostics.truncated).toEqual({})
    expect(doc.incidents.map((c) => c.runId).sort()).toEqual([...interruptedIds].sort())
  })

  test("cap 5: kept + dropped = total for each list, the three incident runs are kept, order is preserved", () => {
    const full = buildSessionExport(host, "ses_one", "diagnostics")!
    const doc = buildSessionExport(host, "ses_one", "diagnostics", 5)!
    expect(SessionExportDocument.parse(doc)).toEqual(doc)
    const { truncated } = doc.diagnostics
    expect(truncated.runs).toEqual({ kept: 5, dropped: TOTAL_RUNS - 5 })
    expect(truncated.requests).toEqual({ kept: 5, dropped: TOTAL_OWN_REQUESTS + 2 - 5 })
    for (const [list, counts] of Object.entries(truncated)) {
      expect(counts.kept, list).toBe((doc.diagnostics as any)[list].length)
      expect(counts.kept + counts.dropped, list).toBe((full.diagnostics as any)[list].length)
    }
    const kept = doc.diagnostics.runs.map((r) => r.runId)
    for (const id of interruptedIds) expect(kept).toContain(id)
    // The rest of the room goes to the most recent runs, and the list stays in run order.
    expect(kept).toEqual(["run_r2", "run_r10", "run_r20", "run_r38", "run_r39"])
    // The requests the incidents name are kept (the reload's, the dispose's and the cancel's when recorded).
    const keptRequests = doc.diagnostics.requests.map((r) => r.requestId)
    expect(keptRequests).toEqual(expect.arrayContaining(["req_app1", "req_plain1"]))
    expect(doc.incidents).toEqual(full.incidents)
  })

  test("a cap below the number of incidents: the cap holds, yet every incident is still in the export and readable", () => {
    const full = buildSessionExport(host, "ses_one", "diagnostics")!
    const doc = buildSessionExport(host, "ses_one", "diagnostics", 2)!
    expect(doc.diagnostics.runs.map((r) => r.runId)).toEqual(["run_r10", "run_r20"])
    expect(doc.diagnostics.truncated.runs).toEqual({ kept: 2, dropped: TOTAL_RUNS - 2 })
    expect(chainFacts(doc.incidents)).toEqual(chainFacts(full.incidents))
    const read = readExport(JSON.stringify(doc))
    if (!read.ok) throw new Error(read.error)
    expect(read.incidents.map((c) => c.runId).sort()).toEqual([...interruptedIds].sort())
    expect(read.truncated.runs).toEqual({ kept: 2, dropped: TOTAL_RUNS - 2 })
    expect(read.warnings.join(" ")).toContain(`kept 2 runs records and dropped ${TOTAL_RUNS - 2}`)
    expect(read.warnings.join(" ")).toContain("re-checked from their own links")
    // The chain whose run was capped away keeps its verdict when re-checked from its own links.
    expect(read.incidents.find((c) => c.runId === "run_r2")?.verdict).toBe(
      full.incidents.find((c) => c.runId === "run_r2")?.verdict,
    )
  })
})

describe("the streamed export (sessionExportText)", () => {
  /** Messages of the session, in pages of 4 so that several sizes end on, before and after a page's edge. */
  const PAGE = 4
  const addMessages = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const id = `msg_s${String(i).padStart(4, "0")}`
      // Pairs of messages share a creation time: the page boundary must break the tie by row, as `messages` does.
      host.sessions.insertMessage({
        id,
        sessionID: "ses_one",
        role: i % 2 ? "assistant" : "user",
        time: { created: 5000 + Math.floor(i / 2) },
      })
      if (i % 3 === 0) continue
      host.sessions.savePart(
        { id: `prt_t${i}`, sessionID: "ses_one", messageID: id, type: "text", text: `text "${i}"\nline two` },
        0,
      )
      if (i % 3 === 2)
        host.sessions.savePart(
          {
            id: `prt_c${i}`,
            sessionID: "ses_one",
            messageID: id,
            type: "tool",
            callID: `call_${i}`,
            tool: "read",
            state: { status: "completed" },
            path: "src/a.ts",
          },
          1,
        )
    }
  }
  /** The text with `exportedAt` (the only field that differs between two calls) set to 0. */
  const streamed = (content: "full" | "diagnostics", cap: number, indent: number) =>
    [...sessionExportText(host, "ses_one", content, { cap, indent, page: PAGE })!].join("")

  test("the same bytes as the built document at several sizes, every cap hit or not, in both forms and indents", () => {
    let had = 0
    for (const messages of [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 3]) {
      addMessages(had, messages)
      had = messages
      for (const cap of [5000, 5, 1, 0])
        for (const content of ["full", "diagnostics"] as const)
          for (const indent of [0, 2]) {
            const built = buildSessionExport(host, "ses_one", content, cap)!
            expect(built.messages).toHaveLength(messages)
            if (cap < 5)
              expect(Object.keys(built.diagnostics.truncated).sort()).toEqual(
                ["lifecycle", "requests", "runs"].filter((l) => l !== "lifecycle" || cap < 2),
              )
            const text = streamed(content, cap, indent)
            expect(sameTime(text), `${messages} messages, cap ${cap}, ${content}, indent ${indent}`).toBe(
              sameTime(JSON.stringify(built, null, indent)),
            )
            expect({ ...JSON.parse(text), exportedAt: 0 }).toEqual({ ...built, exportedAt: 0 })
          }
    }
  })

  test("a destination that stops taking the text stops the reading: no page is read after it", async () => {
    insertSession(host.db, "ses_big")
    // 40 kB per message: the first page of 4 fills the first 64 kB write.
    for (let i = 0; i < 10 * PAGE; i++) {
      const id = `msg_b${String(i).padStart(4, "0")}`
      host.sessions.insertMessage({ id, sessionID: "ses_big", role: "user", time: { created: 7000 + i } })
      host.sessions.savePart(
        { id: `prt_b${i}`, sessionID: "ses_big", messageID: id, type: "text", text: "x".repeat(40_000) },
        0,
      )
    }
    const pages = vi.spyOn(host.sessions, "messagePage")
    try {
      const written: string[] = []
      const write = async (chunk: string) => void written.push(chunk)
      const text = () => sessionExportText(host, "ses_big", "full", { page: PAGE })!
      // A client that goes away once its first bytes are sent.
      expect(await writeJsonText(text(), write, () => written.length > 0)).toBe(false)
      expect(written).toHaveLength(1)
      expect(pages).toHaveBeenCalledTimes(1)
      // The same export to a client that stays reads every page.
      expect(await writeJsonText(text(), write)).toBe(true)
      expect(pages).toHaveBeenCalledTimes(1 + 11)
    } finally {
      pages.mockRestore()
    }
  })
})
