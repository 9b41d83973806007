import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Hono } from "hono"
import { describe, expect, it, vi } from "vitest"
import { RequestContext } from "../../src/provenance/schemas.ts"
import { handleError, handleNotFound } from "../../src/server/errors.ts"
import {
  requestContext,
  requestContextOf,
  requestRef,
  UNMATCHED_ROUTE,
  type RequestContextOptions,
  type RequestContextVariables,
} from "../../src/server/middleware/index.ts"

function sourceFiles(dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [path.join(dir, entry.name)]
        : [],
  )
}

function setup(options: Partial<RequestContextOptions> = {}) {
  const records: RequestContext[] = []
  let seq = 10
  const app = new Hono<{ Variables: RequestContextVariables }>()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++, onRecord: (r) => records.push(r), ...options }))
  app.use("/session/*", async (_c, next) => next())
  app.post("/session/:id/prompt", (c) => c.json({ seen: requestContextOf(c), viaVar: c.get("requestId") }))
  app.get("/session/status", (c) => c.json({ route: requestContextOf(c)?.route }))
  app.get("/session/:id", (c) => c.json({ route: requestContextOf(c)?.route }))
  app.get("/slow", async (c) => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    await Promise.resolve()
    return c.json({ inside: requestContextOf(c)?.requestId })
  })
  app.get("/boom", () => {
    throw new Error("kaput")
  })
  app.get("/*", (c) => c.text("static"))
  return { app, records }
}

type Seen = { seen: RequestContext; viaVar: string }

describe("requestContext", () => {
  it("builds the record for every request and hands it, finished, to onRecord", async () => {
    const { app, records } = setup({ now: () => 1234 })
    const res = await app.request("/session/ses_1/prompt", { method: "POST" })
    expect(res.status).toBe(200)
    const { seen, viaVar } = (await res.json()) as Seen
    expect(seen.requestId).toMatch(/^req_[A-Za-z0-9_-]{1,64}$/)
    expect(viaVar).toBe(seen.requestId)
    expect(seen).toMatchObject({
      seq: 10,
      time: 1234,
      method: "POST",
      route: "/session/:id/prompt",
      clientKind: "plain",
      actionHeader: "absent",
    })
    expect(res.headers.get("x-opencode-request-id")).toBe(seen.requestId)
    expect(records).toHaveLength(1)
    const record = records[0]
    expect(RequestContext.parse(record)).toEqual(record)
    expect(record).toMatchObject({ requestId: seen.requestId, route: "/session/:id/prompt", status: 200 })
    expect(record.durationMs).toBeGreaterThanOrEqual(0)
    expect(Object.values(record)).not.toContain(undefined)
  })

  it("never trusts an incoming request id and numbers requests in order", async () => {
    const { app, records } = setup()
    const res = await app.request("/session/ses_1", {
      headers: { "x-opencode-request-id": "req_attacker", "x-request-id": "req_attacker" },
    })
    await app.request("/session/ses_2")
    expect(res.headers.get("x-opencode-request-id")).not.toBe("req_attacker")
    expect(records.map((r) => r.seq)).toEqual([10, 11])
    expect(records[0].requestId).not.toBe(records[1].requestId)
  })

  it("records the template of the route that answered, not the URL nor a later catch-all", async () => {
    const { app, records } = setup()
    expect(await (await app.request("/session/ses_secret_title")).json()).toEqual({ route: "/session/:id" })
    expect(await (await app.request("/session/status")).json()).toEqual({ route: "/session/status" })
    await app.request("/assets/app.js")
    expect(records.map((r) => r.route)).toEqual(["/session/:id", "/session/status", "/*"])
    expect(JSON.stringify(records)).not.toContain("ses_secret_title")
  })

  it("sets the request id header on 404s and 500s, and records their status", async () => {
    const { app, records } = setup()
    const missing = await app.request("/nowhere", { method: "POST" })
    expect(missing.status).toBe(404)
    expect(missing.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    vi.spyOn(console, "error").mockImplementation(() => {})
    const failed = await app.request("/boom")
    vi.restoreAllMocks()
    expect(failed.status).toBe(500)
    const id = failed.headers.get("x-opencode-request-id")
    expect(id).toMatch(/^req_/)
    expect(records.map((r) => [r.route, r.status])).toEqual([
      [UNMATCHED_ROUTE, 404],
      ["/boom", 500],
    ])
    expect(records[1].requestId).toBe(id)
  })

  it("marks an app client and keeps its version only when it is a version", async () => {
    const { app, records } = setup()
    await app.request("/session/x", { headers: { "x-opencode-client": "app/1.2.3" } })
    await app.request("/session/x", { headers: { "x-opencode-client": "app/1.2.3-beta.2" } })
    await app.request("/session/x", { headers: { "x-opencode-client": `app/${"9".repeat(100)}` } })
    await app.request("/session/x", { headers: { "x-opencode-client": "app/<script>" } })
    await app.request("/session/x", { headers: { "x-opencode-client": "app/1.2.3-my-secret-word" } })
    await app.request("/session/x", { headers: { "x-opencode-client": "opencode-sdk/1.0" } })
    expect(records.map((r) => [r.clientKind, r.clientVersion])).toEqual([
      ["app", "1.2.3"],
      ["app", "1.2.3-beta.2"],
      ["app", undefined],
      ["app", undefined],
      ["app", undefined],
      ["plain", undefined],
    ])
  })

  it("keeps valid action headers and marks malformed ones invalid, still serving the request", async () => {
    const { app, records } = setup()
    const valid = { "x-opencode-action-id": "act_abc-1", "x-opencode-action-name": "session.prompt" }
    expect((await app.request("/session/x", { headers: valid })).status).toBe(200)
    const bad = await app.request("/session/x", {
      headers: { "x-opencode-action-id": "act_<script>", "x-opencode-action-name": "session.prompt" },
    })
    expect(bad.status).toBe(200)
    await app.request("/session/x", {
      headers: { "x-opencode-action-id": "act_ok", "x-opencode-action-name": "Not Valid!" },
    })
    await app.request("/session/x", { headers: { "x-opencode-action-id": `act_${"a".repeat(65)}` } })
    await app.request("/session/x", { headers: { "x-opencode-action-name": "session.prompt" } })
    await app.request("/session/x", { headers: { "x-opencode-action-id": "act_only" } })
    expect(records.map((r) => [r.actionHeader, r.actionId, r.actionName])).toEqual([
      ["present", "act_abc-1", "session.prompt"],
      ["invalid", undefined, "session.prompt"],
      ["invalid", "act_ok", undefined],
      ["invalid", undefined, undefined],
      ["invalid", undefined, "session.prompt"],
      ["present", "act_only", undefined],
    ])
  })

  it("keeps only a well-formed, non-zero traceparent", async () => {
    const { app, records } = setup()
    const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for (const traceparent of [
      good,
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      `${good}-extra`,
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ]) {
      await app.request("/session/x", { headers: { traceparent } })
    }
    expect(records.map((r) => r.traceparent)).toEqual([good, undefined, undefined, undefined, undefined, undefined])
  })

  it("keeps a later version's traceparent as version 00, its extra fields dropped, so the record stays bounded", async () => {
    const { app, records } = setup()
    const ids = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await app.request("/session/x", { headers: { traceparent: `cc-${ids}-${"f".repeat(200)}` } })
    await app.request("/session/x", { headers: { traceparent: `01-${ids}` } })
    expect(records.map((r) => r.traceparent)).toEqual([`00-${ids}`, `00-${ids}`])
  })

  it("keeps a workspace id only when it is well-formed", async () => {
    const { app, records } = setup()
    await app.request("/session/x", { headers: { "x-opencode-workspace": "work_1-A" } })
    await app.request("/session/x", { headers: { "x-opencode-workspace": "../../etc" } })
    await app.request("/session/x", { headers: { "x-opencode-workspace": "w".repeat(65) } })
    expect(records.map((r) => r.workspaceId)).toEqual(["work_1-A", undefined, undefined])
  })

  it("records the directory key from resolveDirectory, and leaves it out when that throws", async () => {
    const resolveDirectory = (c: { req: { header(name: string): string | undefined } }) => {
      const dir = c.req.header("x-opencode-directory")
      if (dir === "bad") throw new Error("invalid directory")
      return dir
    }
    const { app, records } = setup({ resolveDirectory })
    expect((await app.request("/session/x", { headers: { "x-opencode-directory": "/tmp/p" } })).status).toBe(200)
    expect((await app.request("/session/x", { headers: { "x-opencode-directory": "bad" } })).status).toBe(200)
    await app.request("/session/x")
    expect(records.map((r) => r.directoryKey)).toEqual(["/tmp/p", undefined, undefined])
  })

  it("is reachable from the request's own context after awaits", async () => {
    const { app } = setup()
    const res = await app.request("/slow")
    const body = (await res.json()) as { inside: string }
    expect(body.inside).toBe(res.headers.get("x-opencode-request-id"))
  })

  it("builds the record only when something asks for it", async () => {
    const asked: string[] = []
    const resolveDirectory = (c: { req: { path: string } }) => {
      asked.push(c.req.path)
      return "/tmp/p"
    }
    const { app, records } = setup({ resolveDirectory, shouldRecord: (c) => c.req.method !== "GET" })
    // A read nobody records and no route reads: no record, no directory resolution.
    expect((await app.request("/assets/app.js")).status).toBe(200)
    expect(asked).toEqual([])
    // A route that reads it builds it once; a recorded request builds it once, after the response.
    expect((await app.request("/session/status")).status).toBe(200)
    expect((await app.request("/session/ses_1/prompt", { method: "POST" })).status).toBe(200)
    expect(asked).toEqual(["/session/status", "/session/ses_1/prompt"])
    expect(records.map((r) => [r.route, r.directoryKey, r.status])).toEqual([["/session/:id/prompt", "/tmp/p", 200]])
  })

  it("is not ambient: nothing under src/ uses AsyncLocalStorage or Hono's contextStorage", () => {
    // The request is readable only through its own Hono context, so watchers, timers and
    // finalizers a request creates cannot inherit it (docs/architecture.md, the leaking-context loophole).
    const offenders = sourceFiles().filter((file) =>
      /AsyncLocalStorage|node:async_hooks|hono\/context-storage|contextStorage\(/.test(readFileSync(file, "utf8")),
    )
    expect(offenders).toEqual([])
  })

  it("keeps concurrent requests apart", async () => {
    const { app } = setup()
    const responses = await Promise.all(Array.from({ length: 5 }, () => app.request("/slow")))
    for (const res of responses) {
      expect(((await res.json()) as { inside: string }).inside).toBe(res.headers.get("x-opencode-request-id"))
    }
  })

  it("survives a failing record sink", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {})
    const { app } = setup({
      onRecord: () => {
        throw new Error("journal full")
      },
    })
    expect((await app.request("/session/x")).status).toBe(200)
    expect(logged).toHaveBeenCalled()
    vi.restoreAllMocks()
  })
})

describe("requestRef", () => {
  it("keeps the compact allow-listed copy only", () => {
    const ctx: RequestContext = {
      requestId: "req_1",
      seq: 1,
      time: 2,
      method: "POST",
      route: "/instance/reload",
      clientKind: "app",
      clientVersion: "1.0.0",
      actionId: "act_1",
      actionName: "instance.reload",
      actionHeader: "present",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      directoryKey: "/tmp/p",
      status: 200,
      durationMs: 3,
    }
    expect(requestRef(ctx)).toEqual({
      requestId: "req_1",
      route: "/instance/reload",
      method: "POST",
      clientKind: "app",
      actionId: "act_1",
      actionName: "instance.reload",
      actionHeader: "present",
    })
    const plain = requestRef({
      ...ctx,
      clientKind: "plain",
      actionId: undefined,
      actionName: undefined,
      actionHeader: "absent",
    })
    expect(Object.keys(plain).sort()).toEqual(["actionHeader", "clientKind", "method", "requestId", "route"])
  })
})
