/**
 * The streamed export's scan keeps its facts in an `ExportScanStore` (a temporary SQLite database
 * of its own) instead of the JavaScript heap: what it lists must come back in the reference's
 * order even when a later page of runs reaches an earlier record first, and the store must be
 * closed however the export ends.
 */
import { rmSync } from "node:fs"
import path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { buildSessionExport, sessionExportText, sessionIncidents, writeExportText } from "../../src/session/export.ts"
import { ExportScanStore, tempDirWritable } from "../../src/session/export-scan-store.ts"
import { tempDir } from "../harness.ts"
import { insertRun, insertSession } from "./stored-records.ts"
import { appRequest, clientAction, interruptedRun, lifecycleAction, requestContext } from "../provenance/records.ts"

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

const sameTime = (text: string) => text.replace(/"exportedAt": ?\d+/, '"exportedAt":0')

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
    expect(await writeExportText(sessionExportText(host, SESSION, "full")!, async () => {})).toBe(true)
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
    await writeExportText(
      sessionExportText(host, SESSION, "full", { page: 1 })!,
      async () => {},
      () => true,
    )
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([2, 2])
    // The incident route's chains.
    expect(sessionIncidents(host, SESSION)).toHaveLength(4)
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([3, 3])
    // A read that fails midway through the scan.
    vi.spyOn(host.journal, "rowsByRecordId").mockImplementation(() => {
      throw new Error("disk gone")
    })
    await expect(writeExportText(sessionExportText(host, SESSION, "full")!, async () => {})).rejects.toThrow(
      "disk gone",
    )
    expect(() => sessionIncidents(host, SESSION)).toThrow("disk gone")
    expect([open.mock.calls.length, close.mock.calls.length]).toEqual([5, 5])
  })

  test("spills to the temporary directory when it can be written, else is held in memory with the same bytes", () => {
    const was = process.env.SQLITE_TMPDIR
    try {
      process.env.SQLITE_TMPDIR = path.join(dataDir, "no-such-dir")
      expect(tempDirWritable()).toBe(false)
      process.env.SQLITE_TMPDIR = dataDir
      expect(tempDirWritable()).toBe(true)
    } finally {
      if (was === undefined) delete process.env.SQLITE_TMPDIR
      else process.env.SQLITE_TMPDIR = was
    }
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
    vi.restoreAllMocks()
    const spilling = ExportScanStore.open(true)
    expect(spilling.spills).toBe(true)
    spilling.close()
  })
})
