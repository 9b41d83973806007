/**
 * The streamed export's scan keeps its facts in an `ExportScanStore` (a temporary SQLite database
 * of its own) instead of the JavaScript heap: what it lists must come back in the reference's
 * order even when a later page of runs reaches an earlier record first, and the store must be
 * closed however the export ends.
 */
import { readdirSync, readlinkSync, rmSync } from "node:fs"
import path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { buildSessionExport, sessionExportText, sessionIncidentsText } from "../../src/session/export.ts"
import { writeJsonText } from "../../src/session/json-text.ts"
import { ExportScanStore, spillDirs, tempDirWritable } from "../../src/session/export-scan-store.ts"
import { tempDir } from "../harness.ts"
import { insertRun, insertSession, sameTime } from "./stored-records.ts"
import {
  appRequest,
  clientAction,
  interruptedRun,
  lifecycleAction,
  requestContext,
  run,
} from "../provenance/records.ts"

let dataDir: string
let host: Host
const SESSION = "ses_one"

beforeAll(() => {
  dataDir = tempDir("oc-scan-store-")
  host = createHost({ dataDir, readOnly: true })
  insertSession(host.db, SESSION)
  // Four runs in start order; each closed by its own reload, but the earlier runs by the later
  // reloads: the scan meets lc_b before lc_a, lc_d before lc_c (and their requests and renderer
  // actions likewise), while every list is in record order.
  const order = [
    ["run_o0", "b", 80],
    ["run_o1", "a", 70],
    ["run_o2", "d", 90],
    ["run_o3", "c", 85],
  ] as const
  // Renderer actions recorded in record order (a, b, c, d), so their journal order is not the scan's.
  for (const [, name] of [...order].sort((x, y) => x[2] - y[2]))
    host.journal.append("renderer", {}, clientAction(`act_${name}`, "instance.reload", [`req_${name}`]))
  order.forEach(([runId, name, seq], i) => {
    const request = appRequest({ requestId: `req_${name}`, actionId: `act_${name}` })
    const action = lifecycleAction(`lc_${name}`, "reload", { kind: "api_route", request }, { runIds: [runId], seq })
    host.journal.append("request", {}, requestContext(request, seq - 1))
    host.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
    insertRun(host.sessions, runId, 10_000 + 100 * i, interruptedRun(runId, action, { seq: seq + 1 }))
  })
})

afterAll(() => {
  host.close()
  rmSync(dataDir, { recursive: true, force: true })
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe("the export's scan store", () => {
  test("records a later page reaches first are listed in record order, as the built document lists them", () => {
    const built = buildSessionExport(host, SESSION, "diagnostics")!
    // The case is real: the scan meets these records out of their order.
    expect(built.diagnostics.lifecycle.map((a) => a.lifecycleId)).toEqual(["lc_a", "lc_b", "lc_c", "lc_d"])
    expect(built.diagnostics.requests.map((r) => r.requestId)).toEqual(["req_a", "req_b", "req_c", "req_d"])
    expect(built.diagnostics.renderer.map((r) => r.actionId)).toEqual(["act_a", "act_b", "act_c", "act_d"])
    for (const runPage of [1, 2, 4])
      for (const cap of [5000, 3, 1, 0]) {
        const reference = JSON.stringify(buildSessionExport(host, SESSION, "diagnostics", cap))
        const text = [...sessionExportText(host, SESSION, "diagnostics", { cap, runPage })!].join("")
        expect(sameTime(text), `page ${runPage}, cap ${cap}`).toBe(sameTime(reference))
      }
  })

  test("the store is opened once per export and closed however the export ends", async () => {
    const open = vi.spyOn(ExportScanStore, "open")
    const close = vi.spyOn(ExportScanStore.prototype, "close")
    // Written whole.
    expect(await writeJsonText(sessionExportText(host, SESSION, "full")!, async () => {})).toBe(true)
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([1, 1])
    // Stopped by its reader once the diagnostics began: closed then, not at the end.
    let pieces = ""
    for (const piece of sessionExportText(host, SESSION, "full")!) {
      pieces += piece
      if (piece.includes('"lifecycle"')) break
    }
    expect(pieces).not.toContain('"incidents"')
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([2, 2])
    // Stopped before the scan: never opened.
    await writeJsonText(
      sessionExportText(host, SESSION, "full", { page: 1 })!,
      async () => {},
      () => true,
    )
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([2, 2])
    // The incident route's chains.
    expect(JSON.parse([...sessionIncidentsText(host, SESSION)!].join(""))).toHaveLength(4)
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([3, 3])
    // A read that fails midway through the scan.
    vi.spyOn(host.journal, "rowsByRecordId").mockImplementation(() => {
      throw new Error("disk gone")
    })
    await expect(writeJsonText(sessionExportText(host, SESSION, "full")!, async () => {})).rejects.toThrow("disk gone")
    expect(() => [...sessionIncidentsText(host, SESSION)!]).toThrow("disk gone")
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([5, 5])
  })

  test("spills to a temporary file when a directory can be written, else is held in memory with the same bytes", () => {
    expect(spillDirs({ SQLITE_TMPDIR: "/a", TMPDIR: "/b" }, "linux")).toEqual([
      "/a",
      "/b",
      "/var/tmp",
      "/usr/tmp",
      "/tmp",
    ])
    expect(spillDirs({}, "linux")).toEqual(["/var/tmp", "/usr/tmp", "/tmp"])
    const missing = path.join(dataDir, "no-such-dir")
    const file = path.join(dataDir, "opencode.db")
    expect(tempDirWritable([missing, file])).toBe(false)
    expect(tempDirWritable([missing, file, dataDir])).toBe(true)

    const reference = sameTime([...sessionExportText(host, SESSION, "full", { runPage: 1 })!].join(""))
    const open = ExportScanStore.open.bind(ExportScanStore)
    const opened: ExportScanStore[] = []
    vi.spyOn(ExportScanStore, "open").mockImplementation(() => {
      const store = open(false)
      opened.push(store)
      return store
    })
    expect(sameTime([...sessionExportText(host, SESSION, "full", { runPage: 1 })!].join(""))).toBe(reference)
    expect(opened.map((store) => store.spills)).toEqual([false])
  })

  test.skipIf(process.platform !== "linux")(
    "past its page cache the store writes to a deleted temporary file, never to memory alone",
    () => {
      const deletedTempFiles = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return (
              / \(deleted\)$/.test(readlinkSync(`/proc/self/fd/${fd}`)) &&
              /etilqs_/.test(readlinkSync(`/proc/self/fd/${fd}`))
            )
          } catch {
            return false
          }
        }).length
      const before = deletedTempFiles()
      for (const spill of [true, false]) {
        const store = ExportScanStore.open(spill)
        try {
          // About 4 MB of facts: far past the 512 KiB cache.
          for (let page = 0; page < 100; page++)
            store.noteRunChains(
              Array.from({ length: 1000 }, (_, i) => [`run_${page}_${i}_${"x".repeat(20)}`, i % 2 === 0]),
            )
          expect(store.hasChain("run_99_998_" + "x".repeat(20))).toBe(true)
          expect(deletedTempFiles() - before, `spills: ${spill}`).toBe(spill ? 1 : 0)
        } finally {
          store.close()
        }
      }
      expect(deletedTempFiles()).toBe(before)
    },
  )
})

describe("lists longer than a chunk (256 records read at a time)", () => {
  let dir: string
  let big: Host
  beforeAll(() => {
    dir = tempDir("oc-scan-chunks-")
    big = createHost({ dataDir: dir, readOnly: true })
    insertSession(big.db, SESSION)
    // 700 runs, each closed by its own reload (its request and renderer action), and 400 of the
    // session's own requests that no chain names: lists of 700 and 1 100 records.
    for (let i = 0; i < 700; i++) {
      const runId = `run_k${i}`
      const request = appRequest({ requestId: `req_k${i}`, actionId: `act_k${i}` })
      const seq = 10 * i + 5
      const action = lifecycleAction(`lc_k${i}`, "reload", { kind: "api_route", request }, { runIds: [runId], seq })
      big.journal.append("renderer", {}, clientAction(`act_k${i}`, "instance.reload", [`req_k${i}`]))
      big.journal.append("request", {}, requestContext(request, seq - 1))
      big.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
      insertRun(big.sessions, runId, 10_000 + 100 * i, interruptedRun(runId, action, { seq: seq + 1 }))
    }
    for (let i = 0; i < 400; i++)
      big.journal.append(
        "request",
        { sessionId: SESSION },
        requestContext(appRequest({ requestId: `req_own${i}`, route: "/session/:id/prompt" }), 100_000 + i),
      )
  })
  afterAll(() => {
    big.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test("the same bytes as the built document with caps above, at and around the chunk", () => {
    for (const cap of [5000, 1200, 700, 600, 300, 257, 256, 255, 10])
      for (const runPage of [64, 7]) {
        const reference = JSON.stringify(buildSessionExport(big, SESSION, "diagnostics", cap))
        const text = [...sessionExportText(big, SESSION, "diagnostics", { cap, runPage })!].join("")
        expect(sameTime(text), `cap ${cap}, page ${runPage}`).toBe(sameTime(reference))
      }
    const capped = buildSessionExport(big, SESSION, "diagnostics", 700)!
    expect(capped.diagnostics.lifecycle).toHaveLength(700)
    expect(capped.diagnostics.truncated).toEqual({ requests: { kept: 700, dropped: 400 } })
  })
})

describe("rows written between pages (the export gives the event loop turns, so runs finish meanwhile)", () => {
  let laterDir: string
  let later: Host

  beforeAll(() => {
    laterDir = tempDir("oc-scan-later-")
    later = createHost({ dataDir: laterDir, readOnly: true })
    insertSession(later.db, SESSION)
    const request = appRequest({ requestId: "req_l", actionId: "act_l" })
    const action = lifecycleAction("lc_l", "reload", { kind: "api_route", request }, { runIds: ["run_l2"], seq: 40 })
    later.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
    for (let i = 0; i < 10; i++) {
      const runId = `run_l${i}`
      const summary =
        i === 2 ? interruptedRun(runId, action, { seq: 41 }) : run(runId, { seq: 50 + i, classification: "completed" })
      insertRun(later.sessions, runId, 10_000 + 100 * i, summary)
    }
  })

  afterAll(() => {
    later.close()
    rmSync(laterDir, { recursive: true, force: true })
  })

  test("a run stored behind the scan's cursor is left out; one ahead of it is read: no run takes another's place", async () => {
    const read = later.sessions.runSummaryPage.bind(later.sessions)
    let calls = 0
    vi.spyOn(later.sessions, "runSummaryPage").mockImplementation((...args) => {
      // Before the scan's third page: one run starting before the cursor (a row the journal's
      // backlog wrote late, with its own start time), one after every run so far.
      if (++calls === 3) {
        insertRun(later.sessions, "run_behind", 10_050, run("run_behind", { seq: 70, classification: "completed" }))
        insertRun(later.sessions, "run_ahead", 20_000, run("run_ahead", { seq: 71, classification: "completed" }))
      }
      return read(...args)
    })
    const text = [...sessionExportText(later, SESSION, "diagnostics", { cap: 3, runPage: 2 })!].join("")
    const doc = JSON.parse(text) as {
      diagnostics: { runs: { runId: string; classification: string }[]; truncated: Record<string, unknown> }
      incidents: { runId: string }[]
    }
    // The scan read ten runs and run_ahead: the linked run first, then the most recent of the rest.
    expect(doc.diagnostics.runs.map((r) => `${r.runId}:${r.classification}`)).toEqual([
      "run_l2:local_instance_reload",
      "run_l9:completed",
      "run_ahead:completed",
    ])
    expect(doc.diagnostics.truncated.runs).toEqual({ kept: 3, dropped: 8 })
    expect(doc.incidents.map((chain) => chain.runId)).toEqual(["run_l2"])
  })
})
