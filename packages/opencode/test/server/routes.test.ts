/**
 * Every route of docs/protocol.md answers as written against a running server: shapes, JSON errors,
 * 400s that name the field, 404s for unknown sessions, SSE replay, and the local server's
 * security rules over a real socket.
 */
import http from "node:http"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { finishedRun, startRun, startTestServer, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startTestServer()
})
afterEach(async () => {
  await server.close()
})

/** Reads SSE events from /event until `until` says stop. */
async function readEvents(
  url: string,
  until: (events: { id?: string; data: any }[]) => boolean,
  headers: Record<string, string> = {},
) {
  const controller = new AbortController()
  const res = await fetch(`${url}/event`, { headers, signal: controller.signal })
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  const events: { id?: string; data: any }[] = []
  try {
    while (!until(events)) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const id = /^id: ?(.*)$/m.exec(block)?.[1]
        const data = /^data: ?(.*)$/m.exec(block)?.[1]
        if (data) events.push({ ...(id ? { id } : {}), data: JSON.parse(data) })
      }
    }
  } finally {
    controller.abort()
  }
  return events
}

describe("health and errors", () => {
  test("GET /health and /global/health", async () => {
    const health = await server.call("GET", "/health")
    expect(health.body).toMatchObject({
      ok: true,
      version: "0.1.0",
      pid: process.pid,
      bootId: expect.stringMatching(/^boot_/),
      startedAt: expect.any(Number),
    })
    expect(health.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    expect((await server.call("GET", "/global/health")).body).toEqual({ healthy: true, version: "0.1.0" })
  })

  test("unknown route and unknown session: 404 in the error shape", async () => {
    const route = await server.call("GET", "/nope")
    expect(route.status).toBe(404)
    expect(route.body.error.code).toBe("not_found")
    // Every response carries the request id, errors included (set on the socket's response).
    expect(route.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    const session = await server.call("GET", "/session/ses_missing")
    expect(session.status).toBe(404)
    expect(session.body.error).toMatchObject({ code: "session_not_found" })
    for (const sub of ["message", "run", "incident", "export"])
      expect((await server.call("GET", `/session/ses_missing/${sub}`)).status).toBe(404)
  })

  test("bad bodies and directories are 400s naming the field, never 500s", async () => {
    const dir = server.project()
    const session = (await server.call("POST", "/session", { directory: dir, body: {} })).body
    const noText = await server.call("POST", `/session/${session.id}/prompt`, { body: { model: "scripted/quick" } })
    expect(noText.status).toBe(400)
    expect(noText.body.error.message).toContain("text")
    const wrongType = await server.call("POST", `/session/${session.id}/prompt`, { body: { text: 42 } })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body.error.message).toMatch(/^text: /)
    const badModel = await server.call("POST", `/session/${session.id}/prompt`, {
      body: { text: "hi", model: "scripted/nope" },
    })
    expect(badModel.status).toBe(400)
    expect(badModel.body.error).toMatchObject({ code: "invalid_model" })
    expect(badModel.body.error.message).toMatch(/^model: /)
    const notJson = await server.call("POST", "/session", { directory: dir, body: "{not json" })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error.code).toBe("invalid_json")
    const relative = await server.call("GET", "/session", { headers: { "x-opencode-directory": "relative/dir" } })
    expect(relative.status).toBe(400)
    expect(relative.body.error.code).toBe("invalid_directory")
    const missing = await server.call("GET", "/session", { directory: path.join(dir, "does-not-exist") })
    expect(missing.status).toBe(400)
    const badQuery = await server.call("GET", `/session/${session.id}/export?content=everything`)
    expect(badQuery.status).toBe(400)
    expect(badQuery.body.error.message).toContain("content")
    const huge = await server.call("POST", "/session", { directory: dir, body: { title: "x".repeat(2 * 1024 * 1024) } })
    expect(huge.status).toBe(413)
  })
})

describe("sessions and runs", () => {
  test("create, list, get, prompt, messages, runs; one active run per session", async () => {
    const dir = server.project()
    const created = await server.call("POST", "/session", { directory: dir, body: { title: "t1" } })
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^ses_/),
      title: "t1",
      directory: dir,
      projectID: "global",
      version: "0.1.0",
      time: { created: expect.any(Number), updated: expect.any(Number) },
    })
    const id = created.body.id
    expect((await server.call("GET", "/session", { directory: dir })).body.map((s: any) => s.id)).toEqual([id])
    expect((await server.call("GET", "/session", { directory: server.project() })).body).toEqual([])
    expect((await server.call("GET", `/session/${id}`)).body.id).toBe(id)

    const { runId } = (
      await server.call("POST", `/session/${id}/prompt`, { body: { text: "hi", model: "scripted/slow" } })
    ).body
    expect(runId).toMatch(/^run_/)
    const second = await server.call("POST", `/session/${id}/prompt`, {
      body: { text: "again", model: "scripted/quick" },
    })
    expect(second.status).toBe(409)
    expect(second.body.error.code).toBe("run_active")
    const runs = (await server.call("GET", `/session/${id}/run`)).body
    expect(runs).toEqual([expect.objectContaining({ runId, sessionId: id, model: "scripted/slow", status: "running" })])
    expect((await server.call("POST", `/session/${id}/abort`)).body).toBe(true)
    const summary = await finishedRun(server, id, runId)
    expect(summary.classification).toBe("user_cancelled")
    expect(summary.interrupt.request.route).toBe("/session/:id/abort")

    const quick = (await server.call("POST", `/session/${id}/prompt`, { body: { text: "q", model: "scripted/quick" } }))
      .body.runId
    expect((await finishedRun(server, id, quick)).classification).toBe("completed")
    const messages = (await server.call("GET", `/session/${id}/message`)).body
    expect(messages.map((m: any) => m.info.role)).toEqual(["user", "assistant", "user", "assistant"])
    expect(messages[3].parts[0]).toMatchObject({
      type: "text",
      text: "Hello from scripted/quick.",
      sessionID: id,
      messageID: messages[3].info.id,
    })
    const incidents = (await server.call("GET", `/session/${id}/incident`)).body
    expect(incidents.map((c: any) => c.runId)).toEqual([runId])
    const exported = (await server.call("GET", `/session/${id}/export`)).body
    expect(exported).toMatchObject({ schema: "opencode.session-export", version: 2, session: { id, title: "t1" } })
    expect(exported.session.directory).toEqual({
      digest: expect.stringMatching(/^[a-f0-9]{16}$/),
      depth: expect.any(Number),
    })
    const diagnosticsOnly = (await server.call("GET", `/session/${id}/export?content=diagnostics`)).body
    expect(diagnosticsOnly.session.title).toBeUndefined()
    expect(JSON.stringify(diagnosticsOnly)).not.toContain("Hello from scripted/quick.")
  })

  test("watchdog: a stalled provider trips it", async () => {
    await server.close()
    server = await startTestServer({ watchdogMs: 200 })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "scripted/stall")
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("watchdog_timeout")
    expect(summary.watchdog).toMatchObject({ fired: true, timeoutMs: 200 })
  })
})

describe("lifecycle and config routes", () => {
  test("POST /project/git/init runs git init and reloads; GET /project/current shows the repository", async () => {
    const dir = server.project()
    expect((await server.call("GET", "/project/current", { directory: dir })).body.vcs).toBeUndefined()
    const init = await server.call("POST", "/project/git/init", { directory: dir })
    expect(init.status).toBe(200)
    expect(existsSync(path.join(dir, ".git"))).toBe(true)
    expect(init.body).toMatchObject({ worktree: dir, vcs: "git" })
    expect(init.headers.get("x-opencode-lifecycle-id")).toMatch(/^lc_/)
  })

  test("GET/PATCH /config and /global/config", async () => {
    const dir = server.project()
    expect((await server.call("GET", "/config", { directory: dir })).body).toEqual({})
    const patched = await server.call("PATCH", "/config", {
      directory: dir,
      body: { model: "scripted/quick", theme: "dark" },
    })
    expect(patched.body).toEqual({ model: "scripted/quick", theme: "dark" })
    expect(JSON.parse(readFileSync(path.join(dir, "opencode.json"), "utf8"))).toEqual({
      model: "scripted/quick",
      theme: "dark",
    })
    expect((await server.call("PATCH", "/config", { directory: dir, body: [1, 2] })).status).toBe(400)
    writeFileSync(path.join(dir, "opencode.json"), "{broken")
    const broken = await server.call("GET", "/config", { directory: dir })
    expect(broken.status).toBe(409)
    expect(broken.body.error.code).toBe("config_unreadable")

    const global = await server.call("PATCH", "/global/config", { body: { model: "scripted/slow" } })
    expect(global.body.model).toBe("scripted/slow")
    expect((await server.call("GET", "/global/config")).body.model).toBe("scripted/slow")
    const badWorkspace = await server.call("PATCH", "/global/config", {
      body: { workspaces: { w: { url: "not a url" } } },
    })
    expect(badWorkspace.status).toBe(400)
    expect(badWorkspace.body.error.message).toContain("workspaces.<key>.url")
  })

  test("POST /diagnostics/renderer keeps allow-listed fields only", async () => {
    const ok = {
      actionId: "act_one",
      name: "instance.reload",
      page: "/session/:id",
      time: 1,
      requestIds: [],
      outcome: "ok",
      prompt: "SECRET-CANARY",
    }
    const bad = { actionId: "not-an-id", name: "x", page: "https://example.com/?q=SECRET", time: 1 }
    const res = await server.call("POST", "/diagnostics/renderer", { body: { actions: [ok, bad] } })
    expect(res.body).toEqual({ accepted: 1, rejected: 1 })
    const Database = (await import("better-sqlite3")).default
    const db = new Database(path.join(server.dataDir, "opencode.db"), { readonly: true })
    const rows = db.prepare("SELECT data FROM journal WHERE kind = 'renderer'").all() as { data: string }[]
    db.close()
    expect(rows).toHaveLength(1)
    expect(rows[0]!.data).not.toContain("SECRET")
    expect(JSON.parse(rows[0]!.data)).toEqual({
      actionId: "act_one",
      name: "instance.reload",
      page: "/session/:id",
      time: 1,
      requestIds: [],
      outcome: "ok",
    })
  })

  test("POST /diagnostics/renderer keeps a record's W3C trace and root span ids, and refuses malformed ones", async () => {
    const base = { name: "instance.reload", page: "/", time: 1, requestIds: [], outcome: "ok" }
    const ids = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" }
    const actions = [
      { ...base, actionId: "act_traced", ...ids },
      { ...base, actionId: "act_untraced" },
      { ...base, actionId: "act_upper", ...ids, traceId: ids.traceId.toUpperCase() },
      { ...base, actionId: "act_zero", ...ids, spanId: "0".repeat(16) },
      { ...base, actionId: "act_long", ...ids, traceId: `${ids.traceId}00` },
    ]
    const res = await server.call("POST", "/diagnostics/renderer", { body: { actions } })
    expect(res.body).toEqual({ accepted: 2, rejected: 3 })
    const Database = (await import("better-sqlite3")).default
    const db = new Database(path.join(server.dataDir, "opencode.db"), { readonly: true })
    const rows = db.prepare("SELECT data FROM journal WHERE kind = 'renderer'").all() as { data: string }[]
    db.close()
    const kept = rows.map((row) => JSON.parse(row.data)).filter((r) => r.actionId.endsWith("traced"))
    expect(kept.map((r) => [r.actionId, r.traceId, r.spanId])).toEqual([
      ["act_traced", ids.traceId, ids.spanId],
      ["act_untraced", undefined, undefined],
    ])
  })
})

describe("/event", () => {
  test("server.connected first, ids BOOTID:SEQ, lifecycle events with their origin, replay after reconnect", async () => {
    const dir = server.project()
    const boot = (await server.call("GET", "/health")).body.bootId
    const first = readEvents(server.url, (events) => events.some((e) => e.data.type === "lifecycle.action.finished"))
    await new Promise((resolve) => setTimeout(resolve, 100))
    await server.call("POST", "/instance/reload", { directory: dir })
    const events = await first
    expect(events[0]!.data).toEqual({ type: "server.connected", properties: { bootId: boot } })
    const started = events.find((e) => e.data.type === "lifecycle.action.started")!
    expect(started.id).toMatch(new RegExp(`^${boot}:\\d+$`))
    expect(started.data.properties.action).toMatchObject({
      operation: "reload",
      origin: { kind: "api_route", request: { route: "/instance/reload" } },
    })

    // Missed events are replayed on reconnect with Last-Event-ID.
    const lastId = events.at(-1)!.id!
    await server.call("POST", "/instance/dispose", { directory: dir })
    const replayed = await readEvents(
      server.url,
      (evs) => evs.some((e) => e.data.type === "lifecycle.action.finished"),
      { "last-event-id": lastId },
    )
    expect(replayed.find((e) => e.data.type === "lifecycle.action.finished")!.data.properties.action.operation).toBe(
      "dispose",
    )

    // Another boot's id: a replay gap, never silence.
    const gap = await readEvents(server.url, (evs) => evs.length >= 2, { "last-event-id": "boot_other:5" })
    expect(gap[1]!.data).toMatchObject({ type: "server.replay_gap", properties: { reason: "restart" } })
  })
})

describe("security of the local server", () => {
  function rawRequest(
    url: string,
    headers: Record<string, string>,
    method = "GET",
    pathName = "/health",
  ): Promise<{ status: number; body: string }> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve, reject) => {
      const req = http.request({ hostname, port, path: pathName, method, headers }, (res) => {
        let body = ""
        res.on("data", (chunk) => (body += chunk))
        res.on("end", () => resolve({ status: res.statusCode!, body }))
      })
      req.on("error", reject)
      req.end()
    })
  }

  test("a foreign Host (DNS rebinding) or a cross-site Origin is refused with 403", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const port = new URL(server.url).port
    expect((await rawRequest(server.url, { host: `evil.example:${port}` })).status).toBe(403)
    const crossOrigin = await rawRequest(
      server.url,
      { host: `127.0.0.1:${port}`, origin: "https://evil.example", "x-opencode-directory": dir },
      "POST",
      "/instance/reload",
    )
    expect(crossOrigin.status).toBe(403)
    const crossSite = await rawRequest(
      server.url,
      { host: `127.0.0.1:${port}`, "sec-fetch-site": "cross-site", "x-opencode-directory": dir },
      "POST",
      "/instance/dispose",
    )
    expect(crossSite.status).toBe(403)
    // Nothing was closed by the refused requests.
    const runs = (await server.call("GET", `/session/${sessionId}/run`)).body
    expect(runs.find((r: any) => r.runId === runId).status).toBe("running")
    expect(
      (await rawRequest(server.url, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status,
    ).toBe(200)
  })

  test("with OPENCODE_SERVER_TOKEN every API request needs the bearer token", async () => {
    await server.close()
    server = await startTestServer({ token: "tok-123" })
    const refused = await fetch(`${server.url}/session`)
    expect(refused.status).toBe(401)
    expect(refused.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    expect((await fetch(`${server.url}/session`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
    expect((await server.call("GET", "/session")).status).toBe(200)
    expect((await fetch(`${server.url}/event?token=tok-123`)).status).toBe(200)
  })
})
