/**
 * `GET /session/:id/export` answers `JSON.stringify` of the document `buildSessionExport` returns,
 * as application/json, in both content forms: a real server's session with an interrupted run,
 * its reload (sent by the app, with an action id) and the renderer's record of that action.
 */
import { afterEach, expect, test, vi } from "vitest"
import { buildSessionExport, EXPORT_MESSAGE_PAGE } from "../../src/session/export.ts"
import { appHeaders, finishedRun, startApp, startRun, startTestServer, type TestServer } from "../harness.ts"

/** The text with `exportedAt` (the only field that differs between two calls) set to 0. */
const sameTime = (text: string) =>
  text.replace(/^\{"schema":("[^"]*"),"version":(\d+),"exportedAt":\d+,/, '{"schema":$1,"version":$2,"exportedAt":0,')

let server: TestServer
afterEach(async () => {
  await server.close()
})

test("answers JSON.stringify of the document, as application/json", async () => {
  server = await startApp()
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  await server.call("POST", "/instance/reload", {
    directory: dir,
    headers: appHeaders("instance.reload", "act_reload_text"),
  })
  await finishedRun(server, sessionId, runId)
  await server.call("POST", "/diagnostics/renderer", {
    body: {
      actions: [
        {
          actionId: "act_reload_text",
          name: "instance.reload",
          page: "/session/:id",
          time: Date.now(),
          requestIds: [],
          outcome: "ok",
        },
      ],
    },
  })
  for (const content of ["full", "diagnostics"] as const) {
    const res = await server.fetch(
      `${server.url}/session/${sessionId}/export${content === "full" ? "" : "?content=diagnostics"}`,
    )
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^application\/json/)
    const text = await res.text()
    const doc = buildSessionExport(server.running.host, sessionId, content)!
    expect(doc.diagnostics.renderer).toHaveLength(1)
    expect(doc.diagnostics.lifecycle.length).toBeGreaterThan(0)
    expect(doc.diagnostics.runs.map((run) => run.runId)).toEqual([runId])
    expect(sameTime(text)).toBe(sameTime(JSON.stringify(doc)))
  }
})

test.each([
  ["over a socket", startTestServer],
  ["in memory (no socket to cut)", startApp],
] as const)(
  "a failure after the first bytes cuts the response short %s: the client sees an error, never a whole-looking document",
  async (_, start) => {
    // What is tested is the body cut short after the status line: over a socket the connection is
    // destroyed; an in-memory answer's body stream ends in an error instead of a clean end.
    server = await start()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    await finishedRun(server, sessionId, runId)
    const { sessions } = server.running.host
    // Enough text that the head and first page go out before the second page is read.
    for (let i = 0; i < EXPORT_MESSAGE_PAGE * 2; i++) {
      const id = `msg_cut${String(i).padStart(4, "0")}`
      sessions.insertMessage({ id, sessionID: sessionId, role: "user", time: { created: Date.now() + i } })
      sessions.savePart(
        { id: `prt_cut${i}`, sessionID: sessionId, messageID: id, type: "text", text: "x".repeat(1000) },
        0,
      )
    }
    const read = sessions.messagePage.bind(sessions)
    const pages = vi.spyOn(sessions, "messagePage").mockImplementation((...args) => {
      if (pages.mock.calls.length > 1) throw new Error("disk I/O error")
      return read(...args)
    })
    const errors = vi.spyOn(console, "error").mockImplementation(() => {})
    try {
      const res = await server.fetch(`${server.url}/session/${sessionId}/export`)
      expect(res.status).toBe(200)
      await expect(res.text()).rejects.toThrow()
      expect(pages).toHaveBeenCalledTimes(2)
      expect(errors.mock.calls.map((call) => String(call[0]))).toEqual([
        `export: Error while writing session ${sessionId}; response cut short`,
      ])
    } finally {
      pages.mockRestore()
      errors.mockRestore()
    }
  },
)

test("in memory, a reader that cancels after the first bytes stops the reading", async () => {
  server = await startApp()
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  await finishedRun(server, sessionId, runId)
  const { sessions } = server.running.host
  const pagesInAll = 8
  for (let i = 0; i < EXPORT_MESSAGE_PAGE * pagesInAll; i++) {
    const id = `msg_gone${String(i).padStart(5, "0")}`
    sessions.insertMessage({ id, sessionID: sessionId, role: "user", time: { created: Date.now() + i } })
    sessions.savePart(
      { id: `prt_gone${i}`, sessionID: sessionId, messageID: id, type: "text", text: "x".repeat(200) },
      0,
    )
  }
  const pages = vi.spyOn(sessions, "messagePage")
  try {
    const res = await server.fetch(`${server.url}/session/${sessionId}/export`)
    const reader = res.body!.getReader()
    expect((await reader.read()).value!.length).toBeGreaterThan(0)
    await reader.cancel()
    // A few turns for the writer to meet the cancelled stream.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    const settled = pages.mock.calls.length
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(pages.mock.calls.length).toBe(settled)
    expect(settled).toBeLessThan(pagesInAll / 2)
  } finally {
    pages.mockRestore()
  }
})

test("a fault before the first bytes is an error answer on every streamed route, never a 200 cut short", async () => {
  server = await startApp()
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  await finishedRun(server, sessionId, runId)
  const { sessions, journal } = server.running.host
  const ioError = () => Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_READ" })
  // Reads made before the first byte: the export's head and first page of messages, a list's
  // first page, the incident route's crash evidence and every page of its scan (its first
  // bytes come only after the scan).
  const firstReads = [
    ["export", () => vi.spyOn(sessions, "messagePage")],
    ["message", () => vi.spyOn(sessions, "messagePage")],
    ["run", () => vi.spyOn(sessions, "runPage")],
    ["incident", () => vi.spyOn(journal, "crashRows")],
    ["incident", () => vi.spyOn(sessions, "runSummaryPage")],
  ] as const
  try {
    for (const [route, spy] of firstReads) {
      spy().mockImplementation(() => {
        throw ioError()
      })
      const res = await server.call("GET", `/session/${sessionId}/${route}`)
      expect([route, res.status, res.body?.error?.code]).toEqual([route, 503, "storage_unavailable"])
      vi.restoreAllMocks()
      expect((await server.call("GET", `/session/${sessionId}/${route}`)).status).toBe(200)
    }
  } finally {
    vi.restoreAllMocks()
  }
})
