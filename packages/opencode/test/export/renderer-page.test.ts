/**
 * Rule 2: a renderer action's page is one of the app's page templates, else `/unknown`. An upload
 * can name any path-shaped page (a home directory, a key); it used to be stored as it came and
 * written to the diagnostics export, its chains and the incident route. It is now reduced when
 * stored, and a row an earlier build stored as it came is reduced when exported.
 */
import { afterEach, expect, test } from "vitest"
import { finishedRun, startApp, startRun, type TestServer } from "../harness.ts"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const SECRET = "sk-proj-AbCdEf0123456789GhIjKlMn0123456789"
const HOSTILE = `/home/alice/acme-merger-2026/${SECRET}`

/** A run stopped by the app's Stop (action `act_page_1`), then the renderer's records of it. */
async function cancelledRun() {
  server = await startApp()
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  const headers = {
    "x-opencode-action-id": "act_page_1",
    "x-opencode-action-name": "session.abort",
    "x-opencode-client": "app/0.1.0",
  }
  expect((await server.call("POST", `/session/${sessionId}/abort`, { directory: dir, headers })).status).toBe(200)
  await finishedRun(server, sessionId, runId)
  return { server, sessionId }
}

const action = (page: string) => ({
  actionId: "act_page_1",
  name: "session.abort",
  page,
  time: Date.now(),
  outcome: "ok",
})

test("an uploaded page that is not one of the app's templates is stored and exported as /unknown", async () => {
  const { server, sessionId } = await cancelledRun()
  const upload = await server.call("POST", "/diagnostics/renderer", { body: { actions: [action(HOSTILE)] } })
  expect(upload.body).toEqual({ accepted: 1, rejected: 0 })
  const stored = JSON.stringify(server.running.host.journal.rows({ kinds: ["renderer"] }))
  expect(stored).not.toContain(SECRET)
  for (const path of [`/session/${sessionId}/export?content=diagnostics`, `/session/${sessionId}/incident`]) {
    const text = JSON.stringify((await server.call("GET", path)).body)
    expect(text, path).not.toContain(SECRET)
    expect(text, path).not.toContain("/home/alice")
  }
  const exported = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
  expect(exported.diagnostics.renderer.map((a: { page: string }) => a.page)).toEqual(["/unknown"])
  expect(exported.incidents[0].rendererAction).toMatchObject({ actionId: "act_page_1", page: "/unknown" })
})

test("the app's own page is kept; a row an earlier build stored as it came is exported as /unknown", async () => {
  const { server, sessionId } = await cancelledRun()
  const page = "/session/:id/run/:runId"
  expect((await server.call("POST", "/diagnostics/renderer", { body: { actions: [action(page)] } })).status).toBe(200)
  const kept = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
  expect(kept.incidents[0].rendererAction.page).toBe(page)
  // As an earlier build stored the upload: verbatim, the later settled record wins in the export.
  server.running.host.journal.append("renderer", {}, { ...action(HOSTILE), time: Date.now() + 1, requestIds: [] })
  const text = JSON.stringify((await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body)
  expect(text).not.toContain(SECRET)
  expect(JSON.parse(text).diagnostics.renderer.map((a: { page: string }) => a.page)).toEqual(["/unknown"])
})
