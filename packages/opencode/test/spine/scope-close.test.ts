/**
 * A run's scope closed without the instance store (any path other than `RunState.abort`): an
 * honest unknown, never a diagnosis.
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import { finishedRun, incidentOf, startRun, startTestServer, type TestServer } from "../harness.ts"
import { link } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startTestServer({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

test("closeScopeDirectly: unknown_interrupt, missing lifecycle_action, closeSite named, missing_provenance", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  const run = server.running.host.processor.activeRun(sessionId)!
  expect(run.runId).toBe(runId)
  run.closeScopeDirectly("test_site")
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary).toMatchObject({ classification: "unknown_interrupt", missing: ["lifecycle_action"], closeSite: "test_site" })
  expect(summary.interrupt).toBeUndefined()
  expect(summary.error).toBeUndefined()
  const chain = await incidentOf(server, sessionId, runId)
  expect(chain).toMatchObject({ classification: "unknown_interrupt", verdict: "missing_provenance", origin: { kind: "unknown", closeSite: "test_site" } })
  expect(chain.missing).toContain("lifecycle_action")
  expect(link(chain, "lifecycle").status).toBe("missing")
  expect(chain.lifecycleId).toBeUndefined()
  // A later close of the instance is not attributed to a run that was already stopped.
  await server.call("POST", "/instance/reload", { directory: dir })
  expect((await incidentOf(server, sessionId, runId)).verdict).toBe("missing_provenance")
})
