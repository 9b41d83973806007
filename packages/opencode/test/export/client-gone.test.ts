/**
 * A client that goes away from the export over a socket, when little text is left to write (a
 * session of few messages: the diagnostics scan is turns with no text, written in one batch at
 * its end). The reading stops at the next turn, not at the next failed write, and a client
 * gone is never logged as a fault. The same route with large pages: `event-loop-turns.test.ts`.
 */
import { request } from "node:http"
import { afterEach, describe, expect, test, vi } from "vitest"
import { ExportScanStore } from "../../src/session/export-scan-store.ts"
import { startTestServer, type TestServer, untilSettled, waitFor } from "../harness.ts"
import { insertReloadedRuns, insertSession } from "./stored-records.ts"

/** The session stored-records.ts puts its runs in. */
const SESSION = "ses_one"

let server: TestServer | undefined
const host = () => server!.running.host

afterEach(async () => {
  vi.restoreAllMocks()
  await server?.close()
  server = undefined
})

/** A server whose session has `runs` interrupted runs (each with its action, request and renderer action) and one small message. */
async function serverWithRuns(runs: number) {
  server = await startTestServer()
  const { db, journal, sessions } = host()
  insertSession(db, SESSION)
  db.transaction(() => {
    insertReloadedRuns({ journal, sessions }, runs, "s")
    // The head (up to the first turn after some text) is then the whole message list.
    sessions.insertMessage({ id: "msg_s0", sessionID: SESSION, role: "user", time: { created: 20_000 } })
    sessions.savePart({ id: "prt_s0", sessionID: SESSION, messageID: "msg_s0", type: "text", text: "hi" }, 0)
  })()
}

describe("a client gone after the head", () => {
  test("stops the diagnostics scan within a few pages, and the scan's store is closed", async () => {
    const RUNS = 640
    await serverWithRuns(RUNS)
    const pages = vi.spyOn(host().sessions, "runSummaryPage")
    const opened = vi.spyOn(ExportScanStore, "open")
    const closed = vi.spyOn(ExportScanStore.prototype, "close")
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server!.url}/session/${SESSION}/export`, (res) => {
        res.once("data", () => {
          req.destroy()
          resolve()
        })
      })
      req.on("error", () => {})
      req.once("timeout", () => reject(new Error("no answer")))
      req.end()
    })
    await untilSettled(() => pages.mock.calls.length)
    await waitFor(() => closed.mock.calls.length === opened.mock.calls.length, 5000)
    // A whole export reads ceil(640 / 64) = 10 pages for the scan and as many again for the incidents.
    expect(pages.mock.calls.length).toBeLessThan(Math.ceil(RUNS / 64))
  })

  test("is not logged as a fault, even when the text ends after it went", async () => {
    await serverWithRuns(10)
    const errors = vi.spyOn(console, "error")
    const opened = vi.spyOn(ExportScanStore, "open")
    const closed = vi.spyOn(ExportScanStore.prototype, "close")
    let destroy: (() => void) | undefined
    const read = host().sessions.runSummaryPage.bind(host().sessions)
    vi.spyOn(host().sessions, "runSummaryPage").mockImplementation((...args) => {
      // Gone during the scan, after the head was sent; the rest of the export is one batch (< 64 kB).
      destroy?.()
      return read(...args)
    })
    await new Promise<void>((resolve) => {
      const req = request(`${server!.url}/session/${SESSION}/export?content=diagnostics`)
      destroy = () => {
        destroy = undefined
        req.destroy()
        resolve()
      }
      req.on("error", () => {})
      req.end()
    })
    await waitFor(() => opened.mock.calls.length === 1 && closed.mock.calls.length === 1, 5000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const logged = errors.mock.calls
      .map((args) => args.map(String).join(" "))
      .filter((line) => line.includes("while writing session"))
    expect(logged).toEqual([])
  })
})
