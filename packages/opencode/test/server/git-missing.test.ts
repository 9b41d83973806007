/** `POST /project/git/init` on a machine without git: a clear 503, and nothing is closed. */
import { afterEach, expect, test } from "vitest"
import { spawnServer, tempDir, type SpawnedServer } from "../harness.ts"

let spawned: SpawnedServer | undefined
afterEach(() => {
  spawned?.proc.kill("SIGKILL")
})

test("git missing from PATH: 503 git_unavailable naming the problem", async () => {
  const dataDir = tempDir("oc-data-")
  const project = tempDir("oc-proj-")
  // An empty directory as PATH: no git (the server itself runs from process.execPath).
  spawned = await spawnServer(dataDir, { PATH: tempDir("oc-empty-path-") })
  const res = await fetch(`${spawned.url}/project/git/init`, {
    method: "POST",
    headers: { "x-opencode-directory": encodeURIComponent(project) },
  })
  expect(res.status).toBe(503)
  const body = (await res.json()) as { error: { code: string; message: string } }
  expect(body.error.code).toBe("git_unavailable")
  expect(body.error.message).toMatch(/git is not installed/)
})
