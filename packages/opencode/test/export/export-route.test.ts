/**
 * `GET /session/:id/export` answers `JSON.stringify` of the document `buildSessionExport` returns,
 * as application/json, in both content forms: a real server's session with an interrupted run,
 * its reload (sent by the app, with an action id) and the renderer's record of that action.
 */
import { afterEach, expect, test } from "vitest"
import { buildSessionExport } from "../../src/session/export.ts"
import { appHeaders, finishedRun, startRun, startTestServer, type TestServer } from "../harness.ts"

/** The text with `exportedAt` (the only field that differs between two calls) set to 0. */
const sameTime = (text: string) =>
  text.replace(/^\{"schema":("[^"]*"),"version":(\d+),"exportedAt":\d+,/, '{"schema":$1,"version":$2,"exportedAt":0,')

let server: TestServer
afterEach(async () => {
  await server.close()
})

test("answers JSON.stringify of the document, as application/json", async () => {
  server = await startTestServer()
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
    const res = await fetch(
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
