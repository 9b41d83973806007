/**
 * A request record keeps a header value only in a form the export's OTLP mapping keeps too: an
 * `x-opencode-workspace` value only when it names a workspace of the global config and is no
 * key (`codeToken`, the rule a file's workspace id is read by), an `x-opencode-action-name` only
 * when it is no key, and a renderer upload's action name likewise. A refused or key-shaped value
 * is never journalled or exported.
 */
import { Hono } from "hono"
import { afterAll, beforeAll, describe, expect, it, test } from "vitest"
import type { RequestContext } from "../../src/provenance/schemas.ts"
import { handleError, handleNotFound } from "../../src/server/errors.ts"
import { requestContext, type RequestContextVariables } from "../../src/server/middleware/index.ts"
import { deadUrl } from "../tracing/otlp-receiver.ts"
import { startApp, type TestServer } from "../harness.ts"

const TOKEN = "ghp_cnry1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
/** Lowercase hex, as long as a git SHA-1 or a GitHub classic token: an action name's shape. */
const HEX_TOKEN = "cafe0123456789abcdef0123456789abcdef0123"

describe("the request record", () => {
  function setup() {
    const records: RequestContext[] = []
    let seq = 0
    const app = new Hono<{ Variables: RequestContextVariables }>()
    app.onError(handleError)
    app.notFound(handleNotFound)
    app.use(requestContext({ nextSeq: () => seq++, onRecord: (record) => records.push(record) }))
    app.get("/session/:id", (c) => c.json({}))
    return { app, records }
  }

  it("keeps a workspace id, never a key-shaped one", async () => {
    const { app, records } = setup()
    await app.request("/session/x", { headers: { "x-opencode-workspace": "work_1-A" } })
    await app.request("/session/x", { headers: { "x-opencode-workspace": TOKEN } })
    await app.request("/session/x", { headers: { "x-opencode-workspace": HEX_TOKEN } })
    expect(records.map((record) => record.workspaceId)).toEqual(["work_1-A", undefined, undefined])
  })

  it("keeps an action name, never a key-shaped one, and calls the pair with one invalid", async () => {
    const { app, records } = setup()
    const action = (name: string) => ({ "x-opencode-action-id": "act_1", "x-opencode-action-name": name })
    await app.request("/session/x", { headers: action("instance.reload") })
    await app.request("/session/x", { headers: action(HEX_TOKEN) })
    expect(records.map((record) => [record.actionName, record.actionHeader])).toEqual([
      ["instance.reload", "present"],
      [undefined, "invalid"],
    ])
    expect(JSON.stringify(records)).not.toContain(HEX_TOKEN)
  })
})

describe("through the server", () => {
  let server: TestServer
  let sessionId: string
  let dir: string
  const statuses: Record<string, number> = {}

  async function abortWith(headers: Record<string, string>): Promise<number> {
    const res = await server.call("POST", `/session/${sessionId}/abort`, { directory: dir, headers })
    expect(JSON.stringify(res.body)).not.toContain(TOKEN)
    return res.status
  }

  beforeAll(async () => {
    server = await startApp()
    dir = server.project()
    const patched = await server.call("PATCH", "/global/config", {
      body: { workspaces: { gone: { url: await deadUrl() } } },
    })
    expect(patched.status).toBe(200)
    sessionId = (await server.call("POST", "/session", { directory: dir, body: {} })).body.id
    statuses.token = await abortWith({ "x-opencode-workspace": TOKEN })
    statuses.unknown = await abortWith({ "x-opencode-workspace": "nosuchworkspace" })
    statuses.configured = await abortWith({ "x-opencode-workspace": "gone" })
    statuses.actionName = await abortWith({ "x-opencode-action-id": "act_hex1", "x-opencode-action-name": HEX_TOKEN })
  })

  afterAll(async () => {
    await server?.close()
  })

  test("positive control: the requests were refused as naming no workspace, or forwarded", () => {
    expect(statuses).toEqual({ token: 400, unknown: 400, configured: 502, actionName: 200 })
  })

  test("the diagnostics-only export keeps a configured workspace, and no refused or key-shaped value", async () => {
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    const requests = doc.diagnostics.requests.filter((request: any) => request.route === "/session/:id/abort")
    // Positive control: every request is in the export, the forwarded one with its workspace.
    expect(requests.map((request: any) => request.status).sort()).toEqual([200, 400, 400, 502])
    expect(requests.flatMap((request: any) => (request.workspaceId ? [request.workspaceId] : []))).toEqual(["gone"])
    const text = JSON.stringify(doc.diagnostics)
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain("nosuchworkspace")
    expect(text).not.toContain(HEX_TOKEN)
  })

  test("a renderer upload's key-shaped action name is rejected, never journalled or exported", async () => {
    const action = (actionId: string, name: string) => ({
      actionId,
      name,
      page: "/session/:id",
      time: Date.now(),
      requestIds: [],
      outcome: "ok",
    })
    const upload = await server.call("POST", "/diagnostics/renderer", {
      body: { actions: [action("act_fine1", "session.prompt"), action("act_hex2", HEX_TOKEN)] },
    })
    expect(upload.body).toEqual({ accepted: 1, rejected: 1 })
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    expect(JSON.stringify(doc)).not.toContain(HEX_TOKEN)
  })
})
