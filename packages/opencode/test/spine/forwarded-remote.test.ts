/**
 * A forwarded workspace: two servers on loopback. A run started through the local server's
 * workspace forwarding and interrupted on the remote is `remote_interrupted` here, with a
 * `forwarded_remote` origin, never a local cause; the remote's own chain rides beside it.
 */
import { afterEach, expect, test } from "vitest"
import { finishedRun, incidentOf, startTestServer, waitFor, type TestServer } from "../harness.ts"

const servers: TestServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

test("a forwarded run interrupted by a reload on the remote is remote_interrupted, with the remote chain kept as remote_reported", async () => {
  const remote = await startTestServer({ tickMs: 50 })
  servers.push(remote)
  const local = await startTestServer({ env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: remote.url } } }) } })
  servers.push(local)
  const dir = remote.project()
  const ws = { "x-opencode-workspace": "w1" }

  const session = await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })
  expect(session.status).toBe(200)
  const sessionId = session.body.id
  // The session lives on the remote, not here.
  expect((await remote.call("GET", `/session/${sessionId}`)).status).toBe(200)

  const prompt = await local.call("POST", `/session/${sessionId}/prompt`, { directory: dir, headers: ws, body: { text: "hello", model: "scripted/slow" } })
  expect(prompt.status).toBe(200)
  const runId = prompt.body.runId
  await waitFor(async () => {
    const messages = await remote.call("GET", `/session/${sessionId}/message`)
    return (messages.body as any[]).some((m) => m.info.role === "assistant" && m.parts.some((p: any) => p.text))
  })

  // The remote reloads its own instance: a cause local to the remote, not to us.
  await remote.call("POST", "/instance/reload", { directory: dir })
  const localSummary = await finishedRun(local, sessionId, runId)
  expect(localSummary.classification).toBe("remote_interrupted")
  expect(localSummary.interrupt).toMatchObject({ kind: "remote", workspaceId: "w1" })
  expect(localSummary.model).toBe("scripted/slow")

  const chain = await incidentOf(local, sessionId, runId)
  expect(chain.verdict).toBe("remote_reported")
  expect(chain.origin).toMatchObject({ kind: "forwarded_remote", workspaceId: "w1" })
  expect(chain.operation).toBeUndefined()
  expect(chain.links.filter((l: any) => l.hop === "renderer" || l.hop === "request" || l.hop === "lifecycle").every((l: any) => l.status === "remote_reported")).toBe(true)
  expect(chain.remote.source).toBe("remote_reported")
  expect(chain.remote.chain).toMatchObject({ runId, classification: "local_instance_reload", operation: "reload" })

  // The remote's own record is its local reload.
  const remoteChain = await incidentOf(remote, sessionId, runId)
  expect(remoteChain.classification).toBe("local_instance_reload")
})

test("an unknown workspace is a 400 naming the header, and nothing is forwarded", async () => {
  const local = await startTestServer()
  servers.push(local)
  const res = await local.call("POST", "/session", { headers: { "x-opencode-workspace": "nope" }, body: {} })
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe("unknown_workspace")
  expect(res.body.error.message).toContain("x-opencode-workspace")
})
