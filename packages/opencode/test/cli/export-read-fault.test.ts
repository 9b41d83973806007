/**
 * `opencode export` when the data dir fails mid-way (a read fault after the first pages are
 * written): it says reading failed, not writing, exits 1, and never leaves a file that looks
 * whole; the route's counterpart is `export-route.test.ts`.
 */
import { existsSync, readdirSync } from "node:fs"
import path from "node:path"
import { afterEach, expect, test, vi } from "vitest"
import { runExport } from "../../src/cli/export.ts"
import { EXPORT_MESSAGE_PAGE } from "../../src/session/export.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { finishedRun, startApp, startRun, tempDir } from "../harness.ts"

afterEach(() => vi.restoreAllMocks())

async function sessionWithPages(pages: number) {
  const dataDir = tempDir("oc-export-fault-")
  const server = await startApp({ dataDir })
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  await finishedRun(server, sessionId, runId)
  const { sessions } = server.running.host
  for (let i = 0; i < EXPORT_MESSAGE_PAGE * pages; i++) {
    const id = `msg_fault${String(i).padStart(5, "0")}`
    sessions.insertMessage({ id, sessionID: sessionId, role: "user", time: { created: Date.now() + i } })
    sessions.savePart(
      { id: `prt_fault${i}`, sessionID: sessionId, messageID: id, type: "text", text: "x".repeat(100) },
      0,
    )
  }
  await server.close()
  return { dataDir, sessionId }
}

/** The data dir fails on the second page of messages (an I/O error); what the CLI says is collected. */
function faultAfterFirstPage() {
  const read = SessionStore.prototype.messagePage
  const pages = vi.spyOn(SessionStore.prototype, "messagePage").mockImplementation(function (
    this: SessionStore,
    ...args
  ) {
    if (pages.mock.calls.length > 1) throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_READ" })
    return read.apply(this, args)
  })
  const errors = vi.spyOn(console, "error").mockImplementation(() => {})
  return { pages, errors }
}

test("a read fault after the first pages: reading failed is said (with its code), exit 1, no file left", async () => {
  const { dataDir, sessionId } = await sessionWithPages(3)
  const { pages, errors } = faultAfterFirstPage()
  const outDir = tempDir("oc-export-fault-out-")
  const file = path.join(outDir, "export.json")
  const code = await runExport([sessionId, "--out", file, "--data-dir", dataDir])
  expect(pages).toHaveBeenCalledTimes(2)
  expect(code).toBe(1)
  const said = errors.mock.calls.map((call) => String(call[0]))
  expect(said).toEqual([
    `opencode export: reading session ${sessionId} from ${dataDir} failed (SQLITE_IOERR_READ); ${file} was not written`,
  ])
  expect(existsSync(file)).toBe(false)
  // The temp file the export was written to is gone too.
  expect(readdirSync(outDir)).toEqual([])
})

test("to stdout: the pages written so far stay, and the output is said to be cut short", async () => {
  const { dataDir, sessionId } = await sessionWithPages(3)
  const { pages, errors } = faultAfterFirstPage()
  let written = ""
  vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string, done?: (err?: Error) => void) => {
    written += chunk
    done?.()
    return true
  }) as typeof process.stdout.write)
  const code = await runExport([sessionId, "--data-dir", dataDir])
  expect(pages).toHaveBeenCalledTimes(2)
  expect(code).toBe(1)
  expect(written.startsWith('{\n  "schema": "opencode.session-export"')).toBe(true)
  expect(() => JSON.parse(written)).toThrow()
  expect(errors.mock.calls.map((call) => String(call[0]))).toEqual([
    `opencode export: reading session ${sessionId} from ${dataDir} failed (SQLITE_IOERR_READ); the output is cut short`,
  ])
})
