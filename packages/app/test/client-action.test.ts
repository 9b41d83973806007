import { createRoot } from "solid-js"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { createClientActions } from "../src/context/client-action.tsx"
import { createEventHub } from "../src/context/events.tsx"
import { createServerConnection, CLIENT_HEADER_VALUE, ServerError } from "../src/context/server.ts"
import { createServerState } from "../src/context/server-context.tsx"
import { statusLine } from "../src/diagnostics/lifecycle-link.ts"
import { fakeFetch } from "./helpers.ts"

const DIR = "/home/me/my project/ü"

function setup(answer?: Parameters<typeof fakeFetch>[0]) {
  const fetch = fakeFetch(answer)
  const connection = createServerConnection({
    baseUrl: "http://127.0.0.1:4096",
    directory: () => DIR,
    token: () => "tok123",
    fetchImpl: fetch.impl,
  })
  const hub = createEventHub()
  const { actions, dispose } = createRoot((dispose) => ({
    actions: createClientActions({ connection, events: hub, page: () => "/session/ses_secret_title" }),
    dispose,
  }))
  return { fetch, connection, hub, actions, dispose }
}

describe("runAction", () => {
  it("stamps every request made inside it with the client, action id and action name headers", async () => {
    const { fetch, actions } = setup()
    await actions.runAction("instance.reload", async (api) => {
      await api.post("/instance/reload")
      await api.get("/config")
    })
    expect(fetch.requests).toHaveLength(2)
    const [first, second] = fetch.requests
    for (const request of [first!, second!]) {
      expect(request.headers["x-opencode-client"]).toBe(CLIENT_HEADER_VALUE)
      expect(request.headers["x-opencode-client"]).toMatch(/^app\/\d+\.\d+\.\d+$/)
      expect(request.headers["x-opencode-action-id"]).toMatch(/^act_[A-Za-z0-9_-]{1,64}$/)
      expect(request.headers["x-opencode-action-name"]).toBe("instance.reload")
      expect(request.headers["x-opencode-directory"]).toBe(encodeURIComponent(DIR))
      expect(request.headers.authorization).toBe("Bearer tok123")
    }
    // One action, one id, on every request it made.
    expect(first!.headers["x-opencode-action-id"]).toBe(second!.headers["x-opencode-action-id"])
    expect(first!.method).toBe("POST")
    expect(first!.url).toBe("http://127.0.0.1:4096/instance/reload")
  })

  it("starts a W3C trace per action: every request carries its trace id and the action's root span as parent", async () => {
    const { fetch, actions } = setup()
    await actions.runAction("instance.reload", async (api) => {
      await api.post("/instance/reload")
      await api.get("/config")
      await api.post("/instance/reload")
    })
    const [record] = actions.log.list()
    expect(record).toMatchObject({ traceId: expect.stringMatching(/^[0-9a-f]{32}$/) })
    expect(record!.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(fetch.requests).toHaveLength(3)
    for (const request of fetch.requests)
      expect(request.headers.traceparent).toBe(`00-${record!.traceId}-${record!.spanId}-01`)
  })

  it("gives two actions two traces and two root spans", async () => {
    const { fetch, actions } = setup()
    await actions.runAction("instance.reload", (api) => api.post("/instance/reload"))
    await actions.runAction("instance.reload", (api) => api.post("/instance/reload"))
    const [first, second] = fetch.requests.map((request) => request.headers.traceparent!.split("-"))
    expect(first![1]).not.toBe(second![1])
    expect(first![2]).not.toBe(second![2])
    const records = actions.log.list()
    expect(records.map((record) => record.traceId)).toEqual([first![1], second![1]])
    expect(records.map((record) => record.spanId)).toEqual([first![2], second![2]])
  })

  it("gives each action its own id, even when two run interleaved", async () => {
    const { fetch, actions } = setup()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow = actions.runAction("session.prompt", async (api) => {
      await gate
      await api.post("/session/ses_1/prompt", { text: "hello", model: "scripted/quick" })
    })
    await actions.runAction("session.abort", (api) => api.post("/session/ses_1/abort"))
    release()
    await slow
    const abort = fetch.requests.find((request) => request.url.endsWith("/abort"))!
    const prompt = fetch.requests.find((request) => request.url.endsWith("/prompt"))!
    expect(abort.headers["x-opencode-action-name"]).toBe("session.abort")
    expect(prompt.headers["x-opencode-action-name"]).toBe("session.prompt")
    expect(abort.headers["x-opencode-action-id"]).not.toBe(prompt.headers["x-opencode-action-id"])
  })

  it("records the action with its route template, request ids and outcome, never the prompt", async () => {
    const { actions } = setup(() => ({ requestId: "req_server42", body: { runId: "run_1" } }))
    await actions.runAction("session.prompt", (api) =>
      api.post("/session/ses_1/prompt", { text: "my secret prompt", model: "scripted/quick" }),
    )
    const [record] = actions.log.list()
    expect(record).toMatchObject({
      name: "session.prompt",
      page: "/session/:id",
      requestIds: ["req_server42"],
      outcome: "ok",
    })
    expect(JSON.stringify(actions.log.list())).not.toContain("secret")
    expect(Object.keys(record!).sort()).toEqual([
      "actionId",
      "name",
      "outcome",
      "page",
      "requestIds",
      "spanId",
      "time",
      "traceId",
    ])
  })

  it("marks a refused action as an error and keeps the request id of the refusal", async () => {
    const { actions } = setup(() => ({
      status: 409,
      requestId: "req_refused1",
      body: { error: { code: "run_active", message: "a run is active" } },
    }))
    const outcome = actions.runAction("session.prompt", (api) => api.post("/session/ses_1/prompt", { text: "x" }))
    await expect(outcome).rejects.toBeInstanceOf(ServerError)
    await expect(outcome).rejects.toMatchObject({ status: 409, code: "run_active" })
    expect(actions.log.list()[0]).toMatchObject({ outcome: "error", requestIds: ["req_refused1"] })
    expect(statusLine(actions.recent()[0]!)).toBe("Send failed: a run is active")
  })

  it("links the lifecycle action the server ran for it, by the action id on its origin", async () => {
    const { fetch, actions, hub } = setup()
    await actions.runAction("instance.reload", (api) => api.post("/instance/reload"))
    const actionId = fetch.requests[0]!.headers["x-opencode-action-id"]!
    const origin = {
      kind: "api_route" as const,
      request: {
        requestId: "req_1",
        route: "/instance/reload",
        method: "POST",
        clientKind: "app" as const,
        actionId,
        actionName: "instance.reload",
        actionHeader: "present" as const,
      },
      provenance: { complete: true, missing: [] },
    }
    const action = {
      lifecycleId: "lc_abc",
      seq: 1,
      operation: "reload" as const,
      rootOperation: "reload" as const,
      rootId: "lc_abc",
      origin,
      directoryKeys: [],
      directoryCount: 1,
      instances: [],
      runIds: [],
      startedAt: 1,
    }
    hub.emit({ type: "lifecycle.action.started", properties: { action } })
    expect(statusLine(actions.recent()[0]!)).toBe("Reload project: project reload under way…")
    hub.emit({
      type: "lifecycle.action.finished",
      properties: { action: { ...action, runIds: ["run_x"], finishedAt: 2 } },
    })
    expect(statusLine(actions.recent()[0]!)).toBe("Reload project: done, 1 run stopped")
    // Another tab's action is not linked to this one.
    hub.emit({
      type: "lifecycle.action.started",
      properties: {
        action: {
          ...action,
          lifecycleId: "lc_other",
          rootId: "lc_other",
          origin: { ...origin, request: { ...origin.request, actionId: "act_elsewhere" } },
        },
      },
    })
    expect(actions.recent()[0]!.lifecycles.map((lc) => lc.lifecycleId)).toEqual(["lc_abc"])
    expect(actions.isOwnAction(actionId)).toBe(true)
    expect(actions.isOwnAction("act_elsewhere")).toBe(false)
  })
})

describe("the read path", () => {
  it("sends the client header but no action headers", async () => {
    const fetch = fakeFetch(() => ({ body: [] }))
    const connection = createServerConnection({
      baseUrl: "http://127.0.0.1:4096",
      directory: () => DIR,
      token: () => undefined,
      fetchImpl: fetch.impl,
    })
    await createServerState(connection).read("/session", z.array(z.unknown()))
    const [request] = fetch.requests
    expect(request!.headers["x-opencode-client"]).toBe(CLIENT_HEADER_VALUE)
    expect(request!.headers["x-opencode-directory"]).toBe(encodeURIComponent(DIR))
    expect(request!.headers).not.toHaveProperty("x-opencode-action-id")
    expect(request!.headers).not.toHaveProperty("x-opencode-action-name")
    // A read starts no trace: the server gives what it answers its own.
    expect(request!.headers).not.toHaveProperty("traceparent")
    expect(request!.headers).not.toHaveProperty("authorization")
  })

  it("rejects an answer that does not match the expected shape", async () => {
    const fetch = fakeFetch(() => ({ body: { not: "a list" } }))
    const connection = createServerConnection({
      baseUrl: "http://x.test",
      directory: () => undefined,
      token: () => undefined,
      fetchImpl: fetch.impl,
    })
    await expect(createServerState(connection).read("/session", z.array(z.unknown()))).rejects.toMatchObject({
      code: "unexpected_shape",
    })
  })
})
