/**
 * A project directory removed while its instance is open: the directory watcher closes it
 * with its own `server_handler` origin (`directory_watch`), never blaming a request.
 */
import { rmSync } from "node:fs"
import { afterEach, beforeEach, expect, test } from "vitest"
import { finishedRun, incidentOf, startRun, startApp, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

test("removing the project directory during a run: dispose_directory by server_handler directory_watch, diagnosed", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  rmSync(dir, { recursive: true, force: true })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_dispose_directory")
  expect(summary.interrupt.lifecycle.origin).toEqual({
    kind: "server_handler",
    handler: "directory_watch",
    provenance: { complete: true, missing: [] },
  })
  const chain = await incidentOf(server, sessionId, runId)
  expect(chain.verdict).toBe("diagnosed")
  expect(chain.links.find((l: any) => l.hop === "request").status).toBe("not_applicable")
  expect(chain.links.find((l: any) => l.hop === "renderer").status).toBe("not_applicable")
})
