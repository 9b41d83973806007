/**
 * Workspace forwarding cannot be turned against the server itself or another host: a workspace
 * URL that points back at this server is a forwarding loop (refused, nothing runs twice), and a
 * request path that looks like a URL (`//host:port/x`) is always forwarded to the workspace's own
 * origin.
 */
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, expect, test } from "vitest"
import { finishedRun, startApp, startRun, startTestServer, type TestServer } from "../harness.ts"

const servers: TestServer[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
  for (const close of closers.splice(0)) await close()
})

/** A plain HTTP server that records the paths it is asked for. */
async function recorder(): Promise<{ url: string; port: number; seen: string[] }> {
  const seen: string[] = []
  const server = createServer((req: IncomingMessage, res) => {
    seen.push(req.url ?? "")
    res.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  closers.push(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}`, port, seen }
}

test("a workspace whose URL is this server is a forwarding loop: refused with forwarding_loop, and a local reload stays a local reload", async () => {
  const local = await startTestServer()
  servers.push(local)
  // The workspace points back at the same server (its port is known only once it listens).
  await local.call("PATCH", "/global/config", { body: { workspaces: { self: { url: local.url } } } })
  const dir = local.project()
  const ws = { "x-opencode-workspace": "self" }

  const created = await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })
  expect(created.status).toBeGreaterThanOrEqual(400)
  expect(created.status).toBeLessThan(500)
  expect(created.body.error.code).toBe("forwarding_loop")
  expect(created.body.error.message).toContain("self")

  // A session of this server, prompted "through" the looping workspace: refused, no second record.
  const { sessionId, runId } = await startRun(local, dir)
  const looped = await local.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    headers: ws,
    body: { text: "again", model: "scripted/slow" },
  })
  expect(looped.body.error?.code).toBe("forwarding_loop")
  await local.call("POST", "/instance/reload", { directory: dir })
  const summary = await finishedRun(local, sessionId, runId)
  expect(summary.classification).toBe("local_instance_reload")
  const runs = (await local.call("GET", `/session/${sessionId}/run`)).body as any[]
  expect(runs.map((run) => run.summary?.classification)).toEqual(["local_instance_reload"])
})

test("a request path like //127.0.0.1:PORT/x is forwarded to the workspace's origin, never to that host", async () => {
  const victim = await recorder()
  const workspace = await recorder()
  const local = await startApp({
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: `${workspace.url}/base/` } } }) },
  })
  servers.push(local)
  for (const route of [
    `//127.0.0.1:${victim.port}/x`,
    `//127.0.0.1:${victim.port}/session?directory=/tmp`,
    `/\\127.0.0.1:${victim.port}/x`,
  ]) {
    const res = await local.fetch(`${local.url}${route}`, { headers: { "x-opencode-workspace": "w1" } })
    expect(res.status).toBe(200)
  }
  expect(victim.seen).toEqual([])
  expect(workspace.seen.length).toBe(3)
  expect(workspace.seen[0]).toBe(`//127.0.0.1:${victim.port}/x`)
  expect(workspace.seen[1]).toBe(`//127.0.0.1:${victim.port}/session?directory=/tmp`)
})
