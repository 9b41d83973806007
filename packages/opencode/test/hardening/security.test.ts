/**
 * Security of the local server, end to end against a running server (docs/protocol.md, "Security of
 * the local server"): the bearer token (compared in constant time; `?token=` only on /event),
 * Host and Origin checks (DNS rebinding, cross-site pages that would reload an instance or load
 * one whose context changed), no secrets in the server's logs or exports, and a diagnostics
 * route that can write nothing but allow-listed renderer fields.
 */
import { execFile, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import net from "node:net"
import path from "node:path"
import { promisify } from "node:util"
import { Hono } from "hono"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { ClientAction } from "../../src/provenance/schemas.ts"
import { handleError } from "../../src/server/errors.ts"
import { tokensEqual } from "../../src/server/middleware/auth.ts"
import { startEventStream, sendEvent, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"
import { BIN, startRun, startTestServer, tempDir, waitFor, type TestServer } from "../harness.ts"

const run = promisify(execFile)

/** One request over a raw socket: a browser's Host and Origin headers, which fetch will not set. */
async function raw(url: string, head: string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    let data = ""
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => (data += chunk))
    socket.on("error", () => {})
    socket.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), text: data }))
    // A body after a blank line goes after the added header, or it would frame a second request.
    const [lines, body = ""] = head.split("\n\n")
    socket.write(lines!.replace(/\n/g, "\r\n") + "\r\nconnection: close\r\n\r\n" + body)
  })
}

describe("token auth", () => {
  const TOKEN = "tok_" + "Q".repeat(40)
  let s: TestServer
  beforeAll(async () => {
    // These tests present dozens of wrong tokens from one address on purpose; the limit on
    // wrong attempts (10 a minute) is proved in sign-in.test.ts.
    s = await startTestServer({ token: TOKEN, signIn: { failureLimit: 1000 } })
  })
  afterAll(async () => {
    await s.close()
  })

  it("every API route needs Authorization: Bearer TOKEN (401 without, with a wrong, truncated, padded or differently-cased token)", async () => {
    for (const [method, route] of [
      ["GET", "/health"],
      ["GET", "/session"],
      ["POST", "/instance/reload"],
      ["POST", "/global/dispose"],
      ["PATCH", "/config"],
      ["POST", "/diagnostics/renderer"],
      ["GET", "/event"],
    ] as const) {
      for (const authorization of [
        undefined,
        "Bearer wrong",
        `Bearer ${TOKEN.slice(0, -1)}`,
        `Bearer ${TOKEN}x`,
        `Bearer ${TOKEN.toLowerCase()}`,
        `Basic ${TOKEN}`,
        TOKEN,
      ]) {
        const res = await fetch(s.url + route, { method, headers: authorization ? { authorization } : {} })
        expect(res.status, `${method} ${route} ${authorization}`).toBe(401)
        expect(res.headers.get("www-authenticate")).toBe("Bearer")
        await res.body?.cancel()
      }
    }
    const ok = await fetch(s.url + "/health", { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.status).toBe(200)
  })

  it("?token= is accepted on /event only (EventSource cannot send headers), never on another route", async () => {
    const event = await fetch(`${s.url}/event?token=${TOKEN}`)
    expect(event.status).toBe(200)
    expect(event.headers.get("content-type")).toMatch(/text\/event-stream/)
    await event.body?.cancel()
    for (const [method, route] of [
      ["GET", "/health"],
      ["GET", "/session"],
      ["POST", "/instance/reload"],
      ["POST", "/global/dispose"],
      ["GET", "/event/../session"],
    ] as const) {
      const res = await fetch(`${s.url}${route}?token=${TOKEN}`, { method })
      expect(res.status, `${method} ${route}`).toBe(401)
    }
    expect((await fetch(`${s.url}/event?token=nope`)).status).toBe(401)
  })

  it("compares in constant time: hashed to equal length first, so no length or prefix is revealed and unequal lengths never throw", async () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true)
    expect(tokensEqual("", TOKEN)).toBe(false)
    expect(tokensEqual("x".repeat(100_000), TOKEN)).toBe(false)
    expect(tokensEqual(TOKEN.slice(0, 10), TOKEN)).toBe(false)
    const source = readFileSync(path.resolve(import.meta.dirname, "../../src/server/middleware/auth.ts"), "utf8")
    expect(source).toMatch(/timingSafeEqual\(/)
    expect(source).toMatch(/createHash\("sha256"\)/)
    // No direct comparison of the presented token with the configured one anywhere.
    expect(source).not.toMatch(/presented\s*[!=]==?\s*expected|expected\s*[!=]==?\s*presented/)
  })

  it("binding beyond loopback without a token is refused at start", async () => {
    const res = await run(
      process.execPath,
      [BIN, "serve", "--port", "0", "--hostname", "0.0.0.0", "--data-dir", tempDir("oc-sec-")],
      { env: { ...process.env, OPENCODE_SERVER_TOKEN: "" } },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (err) => ({ code: err.code as number, stderr: String(err.stderr) }),
    )
    expect(res.code).not.toBe(0)
    expect(res.stderr).toMatch(/requires OPENCODE_SERVER_TOKEN/)
  })
})

describe("Host and Origin", () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer({ tickMs: 50 })
  })
  afterAll(async () => {
    await s.close()
  })
  const port = () => new URL(s.url).port

  it.each([
    "attacker.example",
    "attacker.example:4096",
    "localhost.attacker.example",
    "127.0.0.1.nip.io",
    "evil@127.0.0.1",
    "127.0.0.1 .evil",
    "[::1",
    "0x7f000001",
    "",
  ])("DNS rebinding: Host %j is refused with 403 forbidden_host", async (host) => {
    const res = await raw(s.url, `GET /health HTTP/1.1\nhost: ${host}`)
    expect([400, 403]).toContain(res.status)
    if (res.status === 403) expect(res.text).toContain("forbidden_host")
  })

  it("loopback Hosts are served", async () => {
    for (const host of [`127.0.0.1:${port()}`, `localhost:${port()}`, `[::1]:${port()}`, "127.0.0.2"]) {
      expect((await raw(s.url, `GET /health HTTP/1.1\nhost: ${host}`)).status, host).toBe(200)
    }
  })

  it("a cross-site page cannot reload or dispose an instance: the run keeps going and no lifecycle action is journalled", async () => {
    const dir = s.project()
    const { sessionId, runId } = await startRun(s, dir, "scripted/slow")
    const before = s.running.host.journal.rows({ kinds: ["lifecycle.started"] }).length
    const attempts = [
      `POST /instance/reload HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://attacker.example\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
      `POST /instance/dispose HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://127.0.0.1:1\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
      `POST /global/dispose HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: null\ncontent-length: 0`,
      `POST /instance/reload HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: cross-site\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
      `PATCH /config HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: https://127.0.0.1:${port()}\ncontent-type: text/plain\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 2\n\n{}`,
      `POST /session/${sessionId}/abort HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://localhost.attacker.example:${port()}\ncontent-length: 0`,
    ]
    for (const head of attempts) {
      const res = await raw(s.url, head)
      expect(res.status, head.split("\n")[0]).toBe(403)
      expect(res.text).toContain("forbidden_origin")
    }
    expect(s.running.host.journal.rows({ kinds: ["lifecycle.started"] }).length).toBe(before)
    expect(s.running.host.processor.activeRun(sessionId)?.runId).toBe(runId)
    // The server's own origin is allowed.
    const own = await raw(
      s.url,
      `GET /session HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://127.0.0.1:${port()}\nx-opencode-directory: ${encodeURIComponent(dir)}`,
    )
    expect(own.status).toBe(200)
  })

  it("not even through a GET that would load an instance whose context changed (git init from outside)", async () => {
    const dir = s.project()
    const { sessionId, runId } = await startRun(s, dir, "scripted/slow")
    await run("git", ["init", "-q", dir])
    const before = s.running.host.journal.rows({ kinds: ["lifecycle.started"] }).length
    for (const extra of ["origin: http://attacker.example", "sec-fetch-site: cross-site"]) {
      const res = await raw(
        s.url,
        `GET /session HTTP/1.1\nhost: 127.0.0.1:${port()}\n${extra}\nx-opencode-directory: ${encodeURIComponent(dir)}`,
      )
      expect(res.status).toBe(403)
    }
    const viaHost = await raw(
      s.url,
      `GET /session/${sessionId}/message?directory=${encodeURIComponent(dir)} HTTP/1.1\nhost: attacker.example`,
    )
    expect(viaHost.status).toBe(403)
    expect(s.running.host.journal.rows({ kinds: ["lifecycle.started"] }).length).toBe(before)
    expect(s.running.host.processor.activeRun(sessionId)?.runId).toBe(runId)
    // A same-origin request is the occasion for the load_reload, as designed.
    const own = await s.call("GET", "/session", { directory: dir })
    expect(own.status).toBe(200)
    await waitFor(() => !s.running.host.processor.activeRun(sessionId))
  })
})

describe("no secrets in the server's logs or exports", () => {
  const KEY = "sk-CANARYKEY" + "9".repeat(32)
  const BEARER = "CANARYBEARER" + "7".repeat(24)
  let fake: FakeOpenAI
  beforeAll(async () => {
    fake = await startFakeOpenAI({
      // The provider echoes the key and the request's own Authorization back, as some do.
      unauthorized: (_body, req, res) => {
        res.writeHead(401, { "content-type": "application/json" }).end(
          JSON.stringify({
            error: { message: `Incorrect API key provided: ${KEY}; header was ${req.headers.authorization}` },
          }),
        )
      },
      midstream: (_body, req, res) => {
        startEventStream(res)
        sendEvent(res, textChunk("partial "))
        sendEvent(res, { error: { message: `upstream failed for ${req.headers.authorization}`, api_key: KEY } })
        res.end()
      },
      crash: (_body, _req, res) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`Traceback: key=${KEY} Authorization: Bearer ${KEY}`)
      },
    })
  })
  afterAll(async () => {
    await fake.close()
  })

  it("a server child process provoked into every error path never prints the API key or an Authorization header, nor exports them", async () => {
    const dataDir = tempDir("oc-sec-log-")
    const proc = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", dataDir], {
      env: { ...process.env, OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseUrl, OPENCODE_SCRIPTED_TICK_MS: "20" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let logs = ""
    proc.stdout!.on("data", (chunk) => (logs += chunk))
    proc.stderr!.on("data", (chunk) => (logs += chunk))
    try {
      await waitFor(() => /listening on http/.test(logs), 20_000)
      const url = /listening on (http:\/\/\S+)/.exec(logs)![1]!
      const dir = tempDir("oc-sec-proj-")
      const headers = {
        authorization: `Bearer ${BEARER}`,
        "content-type": "application/json",
        "x-opencode-directory": encodeURIComponent(dir),
      }
      const call = (method: string, route: string, body?: string, extra: Record<string, string> = {}) =>
        fetch(url + route, { method, headers: { ...headers, ...extra }, ...(body !== undefined ? { body } : {}) }).then(
          async (res) => ({ status: res.status, text: await res.text() }),
        )

      const session = JSON.parse((await call("POST", "/session", "{}")).text)
      for (const model of ["openai/unauthorized", "openai/midstream", "openai/crash"]) {
        const started = await call(
          "POST",
          `/session/${session.id}/prompt`,
          JSON.stringify({ text: `use ${BEARER} and ${KEY}`, model }),
        )
        expect(started.status).toBe(200)
        await waitFor(
          async () => JSON.parse((await call("GET", `/session/${session.id}/run`)).text).every((r: any) => r.summary),
          10_000,
        )
      }
      // Error paths of the API itself, each with the Authorization canary on the request.
      const provoked = [
        await call("POST", `/session/${session.id}/prompt`, `{"text": "${BEARER}", `),
        await call("POST", "/session", JSON.stringify({ title: 5 })),
        await call("GET", `/session/ses_${BEARER}`),
        await call("GET", "/no/such/route"),
        await call("GET", "/session", undefined, { "x-opencode-directory": `/nonexistent/${BEARER}` }),
        await call("POST", "/diagnostics/renderer", JSON.stringify({ actions: [{ actionId: BEARER, secret: KEY }] })),
        // (An error may quote the caller's own input back to the caller; what matters is the server's secrets and logs.)
        await call("POST", `/session/${session.id}/prompt`, JSON.stringify({ text: "x", model: `nope/${BEARER}` })),
        await call("POST", "/project/git/init", "", { "x-opencode-directory": `%zz${BEARER}` }),
      ]
      expect(provoked.map((r) => r.status)).toEqual([400, 400, 404, 404, 400, 200, 400, 400])
      for (const res of provoked) expect(res.text).not.toContain(KEY)
      const exported = (await call("GET", `/session/${session.id}/export?content=diagnostics`)).text
      expect(exported).not.toContain(KEY)
      expect(exported).not.toContain(BEARER)
      const summaries = (await call("GET", `/session/${session.id}/run`)).text
      expect(summaries).not.toContain(KEY)
      expect(summaries).toMatch(/provider_error/)
      // Last: the server answers 413 and may close the connection before the body is sent.
      const tooBig = await call("POST", "/instance/reload", "x".repeat(2 * 1024 * 1024)).catch(() => ({
        status: 413,
        text: "",
      }))
      expect(tooBig.status).toBe(413)
      proc.kill("SIGTERM")
      await new Promise((resolve) => proc.once("exit", resolve))
      expect(logs).not.toContain(KEY)
      expect(logs).not.toContain(BEARER)
      expect(logs).not.toContain("CANARY")
    } finally {
      proc.kill("SIGKILL")
    }
  })

  it("the 500 handler logs an unexpected error with bearer tokens, API keys and configured secrets scrubbed", async () => {
    const app = new Hono()
    app.onError(handleError)
    app.get("/boom", () => {
      throw new Error(`failed calling upstream with Authorization: Bearer ${BEARER} and key ${KEY} token=${BEARER}`)
    })
    const printed: string[] = []
    const spy = vi
      .spyOn(console, "error")
      .mockImplementation(
        (...args: unknown[]) =>
          void printed.push(args.map((a) => (a instanceof Error ? `${a.stack}` : String(a))).join(" ")),
      )
    try {
      const res = await app.request("/boom")
      expect(res.status).toBe(500)
      const body = await res.text()
      expect(body).not.toContain(BEARER)
      expect(body).not.toContain(KEY)
    } finally {
      spy.mockRestore()
    }
    const log = printed.join("\n")
    expect(log).toContain("internal error")
    expect(log).not.toContain(BEARER)
    expect(log).not.toContain(KEY)
    expect(log).toContain("[redacted:")
  })
})

describe("the diagnostics route writes allow-listed fields only", () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer()
  })
  afterAll(async () => {
    await s.close()
  })

  it("drops every field outside the ClientAction allow-list, rejects malformed records, and can write no other journal kind", async () => {
    const allowed = Object.keys(ClientAction.shape).sort()
    const before = s.running.host.db.prepare("SELECT kind, count(*) AS n FROM journal GROUP BY kind").all()
    const res = await s.call("POST", "/diagnostics/renderer", {
      body: JSON.parse(`{
        "actions": [
          { "actionId": "act_ok1", "name": "instance.reload", "page": "/session/:id", "time": 1, "prompt": "SECRET PROMPT", "env": { "OPENAI_API_KEY": "sk-x" },
            "headers": { "authorization": "Bearer x" }, "__proto__": { "polluted": true }, "kind": "lifecycle.started", "lifecycleId": "lc_fake" },
          { "actionId": "act_ok2", "name": "session.prompt", "page": "/session/ses_123/Title With Secrets?x=1", "time": 2 },
          { "actionId": "act_ok3", "name": "session.prompt", "page": "/", "time": -5 },
          { "actionId": "not-an-action", "name": "x", "page": "/", "time": 1 },
          { "actionId": "act_ok4", "name": "session.prompt", "page": "/", "time": 3, "requestIds": ["req_1", "'; DROP TABLE journal; --"] },
          "just a string", null, 42, [1, 2]
        ],
        "kind": "lifecycle.started", "runId": "run_fake"
      }`),
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ accepted: 1, rejected: 8 })
    const rows = s.running.host.journal.rows({ kinds: ["renderer"] })
    expect(rows).toHaveLength(1)
    for (const row of rows) {
      expect(
        Object.keys(row.data as object)
          .sort()
          .every((key) => allowed.includes(key)),
      ).toBe(true)
      expect(JSON.stringify(row.data)).not.toMatch(/SECRET|sk-x|Bearer|polluted|lc_fake/)
      expect(row.runId).toBeUndefined()
      expect(row.lifecycleId).toBeUndefined()
      expect(row.sessionId).toBeUndefined()
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const after = s.running.host.db.prepare("SELECT kind, count(*) AS n FROM journal GROUP BY kind").all() as {
      kind: string
      n: number
    }[]
    const grew = after
      .filter((row) => row.n !== ((before as { kind: string; n: number }[]).find((b) => b.kind === row.kind)?.n ?? 0))
      .map((row) => row.kind)
    expect(grew.sort()).toEqual(["renderer", "request"])
  })

  it("batches over 500 records and bodies that are not a batch are a 400", async () => {
    const many = Array.from({ length: 501 }, (_, i) => ({ actionId: `act_${i}`, name: "x.y", page: "/", time: i }))
    expect((await s.call("POST", "/diagnostics/renderer", { body: { actions: many } })).status).toBe(400)
    expect((await s.call("POST", "/diagnostics/renderer", { body: [] })).status).toBe(400)
    expect((await s.call("POST", "/diagnostics/renderer", { body: "{not json" })).status).toBe(400)
  })
})
