/**
 * A user's cancel that arrives after a close took the session's run is kept on that run as a
 * late request, whatever closed it: a reload and a context mismatch (whose next generation
 * opens at once), a dispose, a config edit by route or by another program, git init, dispose
 * all by route or by a global config edit; and a cancel that arrives while the close still
 * waits for another run. The cause stands; the exported incident lists the cancel with its request.
 */
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import type { ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import { finishedRun, startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { aborted, installProvider } from "./spine-helpers.ts"

let server: TestServer
afterEach(async () => {
  await server.close()
})

/** Serves `lingering/model`: a run whose teardown after its abort lasts until the returned function is called. */
function lingeringProvider(): () => void {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  installProvider(
    server.running.host,
    "lingering",
    async function* (request: ProviderRequest): AsyncGenerator<ProviderEvent> {
      yield { type: "text", text: "working" }
      await aborted(request.signal)
      await released
    },
  )
  return release
}

/** The session's exported incident for `runId`. */
async function exportedIncident(sessionId: string, runId: string): Promise<any> {
  const doc = await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)
  expect(doc.status).toBe(200)
  return (doc.body.incidents as any[]).find((chain) => chain.runId === runId)
}

/** Sends the user's cancel after the run is closed, and checks it is on the exported incident, late, the cause unchanged. */
async function cancelAfterClose(dir: string, sessionId: string, runId: string, classification: string): Promise<void> {
  const closed = await finishedRun(server, sessionId, runId)
  expect(closed.classification).toBe(classification)
  const cancel = await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
  expect(cancel.status).toBe(200)
  const requestId = cancel.headers.get("x-opencode-request-id")
  await waitFor(async () =>
    ((await exportedIncident(sessionId, runId))?.alsoRequestedBy ?? []).some(
      (also: any) => also.requestId === requestId,
    ),
  )
  const chain = await exportedIncident(sessionId, runId)
  expect(chain.classification).toBe(classification)
  expect(chain.lifecycleId).toBe(closed.interrupt.lifecycle.lifecycleId)
  expect(chain.alsoRequestedBy).toEqual([expect.objectContaining({ kind: "user_cancel", late: true, requestId })])
}

describe("a user's cancel after the close is kept on the closed run, whatever closed it", () => {
  test("reload (POST /instance/reload): the next generation does not lose it", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("POST", "/instance/reload", { directory: dir })).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_reload")
  })

  test("dispose (POST /instance/dispose)", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("POST", "/instance/dispose", { directory: dir })).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_dispose")
  })

  test("config edit by route (PATCH /config)", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("PATCH", "/config", { directory: dir, body: { model: "scripted/quick" } })).status).toBe(
      200,
    )
    await cancelAfterClose(dir, sessionId, runId, "local_instance_dispose_directory")
  })

  test("config edit by another program (the config watcher)", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    writeFileSync(path.join(dir, "opencode.json"), `{ "model": "scripted/quick" }\n`)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_dispose_directory")
  })

  test("git init (POST /project/git/init): a reload", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("POST", "/project/git/init", { directory: dir })).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_reload")
  })

  test("context mismatch (load_reload): the next generation does not lose it", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    execFileSync("git", ["init", "--quiet"], { cwd: dir })
    expect((await server.call("GET", "/session", { directory: dir })).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_reload")
  })

  test("dispose all (POST /global/dispose)", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("POST", "/global/dispose")).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_dispose_all")
  })

  test("dispose all by a global config edit (PATCH /global/config)", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    expect((await server.call("PATCH", "/global/config", { body: { model: "scripted/quick" } })).status).toBe(200)
    await cancelAfterClose(dir, sessionId, runId, "local_instance_dispose_all")
  })

  test("shutdown: a cancel after it began is refused (503 shutting_down), never answered true and dropped", async () => {
    server = await startApp()
    const release = lingeringProvider()
    const dir = server.project()
    const { sessionId } = await startRun(server, dir, "lingering/model")
    // The run lingers after its abort, so the shutdown is still closing when the cancel lands.
    const stopping = server.running.shutdown("SIGTERM")
    const cancel = await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
    release()
    expect(cancel.status).toBe(503)
    expect(cancel.body.error.code).toBe("shutting_down")
    expect(await stopping).toBe("closed")
  })

  test("a cancel while the reload still waits for another run is kept on the run that already stopped", async () => {
    server = await startApp()
    const releaseSlow = lingeringProvider()
    const dir = server.project()
    const quick = await startRun(server, dir)
    const slow = await startRun(server, dir, "lingering/model")
    const reload = server.call("POST", "/instance/reload", { directory: dir })
    const closed = await finishedRun(server, quick.sessionId, quick.runId)
    expect(closed.classification).toBe("local_instance_reload")
    const cancel = await server.call("POST", `/session/${quick.sessionId}/abort`, { directory: dir })
    const requestId = cancel.headers.get("x-opencode-request-id")
    releaseSlow()
    expect((await reload).status).toBe(200)
    await finishedRun(server, slow.sessionId, slow.runId)
    await waitFor(
      async () => ((await exportedIncident(quick.sessionId, quick.runId))?.alsoRequestedBy ?? []).length > 0,
    )
    expect((await exportedIncident(quick.sessionId, quick.runId)).alsoRequestedBy).toEqual([
      expect.objectContaining({ kind: "user_cancel", late: true, requestId }),
    ])
  })

  test("a cancel after the session started and finished a newer run is not put on the closed one", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, sessionId, runId)
    const next = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "again", model: "scripted/quick" },
    })
    expect((await finishedRun(server, sessionId, next.body.runId)).classification).toBe("completed")
    // The cancel is handled before it is answered: once answered, whatever it recorded is there.
    expect((await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })).status).toBe(200)
    expect((await exportedIncident(sessionId, runId)).alsoRequestedBy).toEqual([])
    expect(await exportedIncident(sessionId, next.body.runId)).toBeUndefined()
  })
})
