/**
 * Open instances are bounded (each holds a file-system watch): past the cap a request for a new
 * directory is refused with 503 `too_many_instances`; nothing open is evicted, so no run is
 * interrupted to make room. Directories already open keep working, and closing one makes room.
 */
import { afterEach, expect, test } from "vitest"
import { startRun, startApp, type TestServer } from "../harness.ts"

let server: TestServer
afterEach(async () => {
  await server.close()
})

test("OPENCODE_MAX_INSTANCES=2: the third directory gets 503 too_many_instances, the open ones keep working", async () => {
  server = await startApp({ env: { OPENCODE_MAX_INSTANCES: "2" } })
  const [a, b, c] = [server.project(), server.project(), server.project()]
  const run = await startRun(server, a)
  expect((await server.call("POST", "/session", { directory: b, body: {} })).status).toBe(200)

  const refused = await server.call("POST", "/session", { directory: c, body: {} })
  expect(refused.status).toBe(503)
  expect(refused.body.error.code).toBe("too_many_instances")
  expect(refused.body.error.message).toContain("OPENCODE_MAX_INSTANCES")
  expect(server.running.host.instances.list()).toHaveLength(2)
  // Nothing was evicted: the run in `a` is still going.
  expect(server.running.host.processor.activeRun(run.sessionId)).toBeDefined()
  expect((await server.call("POST", "/session", { directory: a, body: {} })).status).toBe(200)

  await server.call("POST", "/instance/dispose", { directory: b })
  expect((await server.call("POST", "/session", { directory: c, body: {} })).status).toBe(200)
})

test("a reload of an open directory at the cap is not refused", async () => {
  server = await startApp({ env: { OPENCODE_MAX_INSTANCES: "1" } })
  const a = server.project()
  await startRun(server, a)
  const reload = await server.call("POST", "/instance/reload", { directory: a })
  expect(reload.status).toBe(200)
  expect(reload.body.failed).toBeUndefined()
  expect(server.running.host.instances.list().map((i) => i.generation)).toEqual([2])
})

test("the default cap is 64", async () => {
  server = await startApp()
  const dirs = Array.from({ length: 65 }, () => server.project())
  const statuses: number[] = []
  for (const dir of dirs) statuses.push((await server.call("POST", "/session", { directory: dir, body: {} })).status)
  // The default directory may be open too; at most 64 in all.
  expect(server.running.host.instances.list().length).toBe(64)
  expect(statuses.filter((s) => s === 503).length).toBe(1)
})
