/**
 * One directory, several spellings: a run started through one is found, and attributed, when
 * its instance is closed through another (one `directoryKey()` everywhere).
 */
import { symlinkSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, expect, test } from "vitest"
import { finishedRun, incidentOf, startRun, startApp, tempDir, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

function aliasOf(dir: string): string {
  const link = path.join(tempDir("oc-alias-"), "project-link")
  symlinkSync(dir, link, "dir")
  return link
}

test.each([
  ["a symlink", "the real path", (dir: string) => ({ start: aliasOf(dir), close: dir })],
  ["dir/./", "a symlink", (dir: string) => ({ start: `${dir}/./`, close: aliasOf(dir) })],
  ["the real path", "dir/sub/..", (dir: string) => ({ start: dir, close: `${dir}/sub/..` })],
])("started through %s, reloaded through %s: found and attributed", async (_a, _b, spell) => {
  const dir = server.project()
  const { start, close } = spell(dir)
  const { sessionId, runId } = await startRun(server, start)
  const reload = await server.call("POST", "/instance/reload", { directory: close })
  expect(reload.status).toBe(200)
  expect(reload.body.runIds).toEqual([runId])
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_reload")
  expect(summary.interrupt.lifecycle.lifecycleId).toBe(reload.headers.get("x-opencode-lifecycle-id"))
  const chain = await incidentOf(server, sessionId, runId)
  expect(chain.verdict).toBe("diagnosed")
  // Listed under either spelling.
  const listed = await server.call("GET", "/session", { directory: close })
  expect(listed.body.map((s: any) => s.id)).toContain(sessionId)
})

test("disposed through a symlink while started through the real path", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  const dispose = await server.call("POST", "/instance/dispose", { directory: aliasOf(dir) })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_dispose")
  expect(summary.interrupt.lifecycle.lifecycleId).toBe(dispose.headers.get("x-opencode-lifecycle-id"))
})
