/**
 * GET /session/:id/incident answers the export's incident chains without building the export:
 * it reads no message and none of the session's own requests that no chain links to, and its
 * chains are exactly the export's, for an app-initiated reload, a plain-client dispose, a user
 * cancel and a run that completed.
 */
import { afterEach, beforeEach, expect, test, vi } from "vitest"
import { appHeaders, finishedRun, startApp, waitFor, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
afterEach(async () => {
  vi.restoreAllMocks()
  await server.close()
})

async function seedIncidents(): Promise<{ sessionId: string; dir: string }> {
  const dir = server.project()
  const sessionId = (await server.call("POST", "/session", { directory: dir, body: {} })).body.id as string
  const prompt = async (model: string) =>
    (
      await server.call("POST", `/session/${sessionId}/prompt`, {
        directory: dir,
        body: { text: "go", model },
        headers: appHeaders("session.prompt"),
      })
    ).body.runId as string
  const hasOutput = async (runId: string) =>
    ((await server.call("GET", `/session/${sessionId}/message`)).body as any[]).some(
      (m) => m.info.runId === runId && m.info.role === "assistant" && m.parts.some((p: any) => p.text),
    )
  const quick = await prompt("scripted/quick")
  await finishedRun(server, sessionId, quick)
  for (const close of [
    () => server.call("POST", "/instance/reload", { directory: dir, headers: appHeaders("instance.reload") }),
    () => server.call("POST", "/instance/dispose", { directory: dir }),
    () => server.call("POST", `/session/${sessionId}/abort`, { directory: dir }),
  ]) {
    const runId = await prompt("scripted/slow")
    await waitFor(() => hasOutput(runId))
    expect((await close()).status).toBe(200)
    await finishedRun(server, sessionId, runId)
  }
  // Requests of the session that no chain links to (reads are not journalled; these are).
  for (let i = 0; i < 5; i++)
    await server.call("POST", `/session/${sessionId}/abort`, { directory: dir, headers: appHeaders("session.abort") })
  return { sessionId, dir }
}

test("the incident route answers the export's chains", async () => {
  const { sessionId } = await seedIncidents()
  const incidents = (await server.call("GET", `/session/${sessionId}/incident`)).body as any[]
  expect(incidents.map((chain) => chain.classification).sort()).toEqual([
    "local_instance_dispose",
    "local_instance_reload",
    "user_cancelled",
  ])
  expect(incidents).toEqual(
    (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body.incidents,
  )
  expect(incidents).toEqual((await server.call("GET", `/session/${sessionId}/export`)).body.incidents)
})

test("the incident route reads no message and none of the session's unlinked requests", async () => {
  const { sessionId } = await seedIncidents()
  const { host } = server.running
  const messages = vi.spyOn(host.sessions, "messages")
  const ownRequests = vi.spyOn(host.journal, "latestRows")
  const res = await server.call("GET", `/session/${sessionId}/incident`)
  expect(res.status).toBe(200)
  expect(res.body).toHaveLength(3)
  expect(messages).not.toHaveBeenCalled()
  expect(ownRequests).not.toHaveBeenCalled()
})

test("an unknown session is a 404", async () => {
  const res = await server.call("GET", "/session/ses_nope/incident")
  expect(res.status).toBe(404)
  expect(res.body.error.code).toBe("session_not_found")
})
