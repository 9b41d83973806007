/**
 * Sign-in leaves nothing replayable, over real sockets:
 *  - `serve` prints a one-time sign-in code, never the token: the code works once, for a short
 *    time, and is useless afterwards;
 *  - the session cookie is bound to this server's boot and port, expires, and is fresh on each
 *    sign-in;
 *  - a login only ever redirects to a path on this server;
 *  - wrong bearer tokens and wrong sign-ins are rate-limited per client address;
 *  - a short token is refused beyond loopback;
 *  - every response carries `script-src 'self'`, and the login page runs no inline script.
 */
import { execFile, spawn } from "node:child_process"
import { request as httpRequest } from "node:http"
import { rmSync } from "node:fs"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServer, type RunningServer } from "../../src/server/server.ts"
import { BIN, tempDir, waitFor } from "../harness.ts"

const run = promisify(execFile)

const TOKEN = "tok_" + "Vx8".repeat(12)

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A request over a raw socket: any `Host`, any source address (fetch allows neither). */
function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Answer> {
  const url = new URL(path, base)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? "GET",
        headers: options.headers ?? {},
        localAddress: options.localAddress,
      },
      (res) => {
        let body = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (body += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on("error", reject)
    req.end(options.body)
  })
}

function codeOf(signInUrl: string | undefined): string {
  const match = /\/login#code=([A-Za-z0-9_-]+)$/.exec(signInUrl ?? "")
  expect(match, signInUrl).not.toBeNull()
  return match![1]!
}

/** Posts a login form from the server's own page; answers the response and the cookie it set. */
async function login(
  base: string,
  fields: Record<string, string>,
  localAddress?: string,
): Promise<{ res: Answer; cookie: string | undefined }> {
  const res = await send(base, "/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base, "sec-fetch-site": "same-origin" },
    body: new URLSearchParams(fields).toString(),
    ...(localAddress ? { localAddress } : {}),
  })
  const setCookie = res.headers["set-cookie"]?.[0]
  return { res, cookie: setCookie?.split(";")[0] }
}

const portOf = (url: string) => new URL(url).port

let clock = Date.now()
let running: RunningServer
let other: RunningServer
const dirs: string[] = []

beforeAll(async () => {
  const start = async () => {
    const dataDir = tempDir("oc-data-")
    const defaultDirectory = tempDir("oc-default-")
    dirs.push(dataDir, defaultDirectory)
    return startServer({
      port: 0,
      hostname: "127.0.0.1",
      dataDir,
      defaultDirectory,
      token: TOKEN,
      scriptedTickMs: 20,
      env: {},
      signIn: { now: () => clock },
    })
  }
  running = await start()
  other = await start()
})
afterAll(async () => {
  for (const server of [running, other]) await server?.shutdown("api").catch(() => {})
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe("a one-time sign-in code instead of the token in a URL", () => {
  it("serve prints /login#code=…, never the token; the code signs in once and never again", async () => {
    const data = tempDir("oc-serve-")
    const proc = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", data], {
      env: { ...process.env, OPENCODE_SERVER_TOKEN: TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    proc.stdout!.on("data", (chunk) => (out += chunk))
    try {
      await waitFor(() => /#code=\S+/.test(out), 20_000)
      expect(out).not.toContain(TOKEN)
      expect(out).not.toContain(encodeURIComponent(TOKEN))
      const lines = out.split("\n")
      const listening = lines.find((line) => line.startsWith("opencode server listening on "))!
      expect(listening).toMatch(/^opencode server listening on http:\/\/127\.0\.0\.1:\d+$/)
      const base = listening.slice("opencode server listening on ".length)
      const codeLines = lines.filter((line) => line.includes("#code="))
      expect(codeLines).toHaveLength(1)
      const url = /(http:\/\/\S+#code=\S+)/.exec(codeLines[0]!)![1]!
      expect(url.startsWith(`${base}/login#code=`)).toBe(true)
      const code = codeOf(url)

      const first = await login(base, { code, next: "/app/x" })
      expect(first.res.status).toBe(303)
      expect(first.res.headers.location).toBe("/app/x")
      expect(first.cookie).toBeDefined()
      expect((await send(base, "/session", { headers: { cookie: first.cookie! } })).status).toBe(200)

      const again = await login(base, { code })
      expect(again.res.status).toBe(401)
      expect(again.res.headers["set-cookie"]).toBeUndefined()
      expect(again.res.body).not.toContain(code)
    } finally {
      proc.kill("SIGKILL")
      rmSync(data, { recursive: true, force: true })
    }
  })

  it("a code no longer works after it expires (10 minutes), and a code from another server never works", async () => {
    const expiring = codeOf(running.signInUrl())
    const fresh = codeOf(running.signInUrl())
    expect(fresh).not.toBe(expiring)
    clock += 10 * 60_000 + 1
    try {
      expect((await login(running.url, { code: expiring })).res.status).toBe(401)
    } finally {
      clock -= 10 * 60_000 + 1
    }
    expect((await login(running.url, { code: codeOf(other.signInUrl()) })).res.status).toBe(401)
    // The control: a code inside its time signs in.
    expect((await login(running.url, { code: fresh })).res.status).toBe(303)
  })

  it("GET /login serves the login page, whose script is a file and which holds no token", async () => {
    const page = await send(running.url, "/login", { headers: { "sec-fetch-site": "none" } })
    expect(page.status).toBe(200)
    expect(page.body).toMatch(/<form[^>]+action="\/login"/)
    expect(page.body).not.toContain(TOKEN)
    expect(page.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/)
    const src = /<script[^>]*\ssrc="([^"]+)"/.exec(page.body)![1]!
    const script = await send(running.url, src)
    expect(script.status).toBe(200)
    expect(script.headers["content-type"]).toMatch(/javascript/)
    expect(script.body).toContain("code=")
    expect(script.body).not.toContain(TOKEN)
  })
})

describe("the session cookie is bound to this server's boot and port, expires, and is fresh on each sign-in", () => {
  it("works here; refused by another boot with the same token and under another port; refused after 12 hours", async () => {
    const a = await login(running.url, { token: TOKEN })
    const b = await login(running.url, { token: TOKEN })
    expect(a.cookie).toBeDefined()
    expect(b.cookie).toBeDefined()
    expect(b.cookie).not.toBe(a.cookie)
    const [name, value] = a.cookie!.split("=") as [string, string]
    expect(value).not.toContain(TOKEN)
    expect((await send(running.url, "/session", { headers: { cookie: a.cookie! } })).status).toBe(200)

    // Another server with the same token, asked as if it were this one's port.
    const otherBoot = await send(other.url, "/session", {
      headers: { host: `127.0.0.1:${portOf(running.url)}`, cookie: a.cookie! },
    })
    expect(otherBoot.status).toBe(401)
    // This server, asked under another port with that port's cookie name.
    const otherPort = portOf(other.url)
    const renamed = `${name.replace(/_\d+$/, `_${otherPort}`)}=${value}`
    expect(
      (await send(running.url, "/session", { headers: { host: `127.0.0.1:${otherPort}`, cookie: renamed } })).status,
    ).toBe(401)

    clock += 12 * 60 * 60_000 + 1
    try {
      expect((await send(running.url, "/session", { headers: { cookie: a.cookie! } })).status).toBe(401)
    } finally {
      clock -= 12 * 60 * 60_000 + 1
    }
    expect((await send(running.url, "/session", { headers: { cookie: a.cookie! } })).status).toBe(200)
  })
})

describe("a login only redirects to a path on this server", () => {
  it("refuses every way of naming another site", async () => {
    const variants = [
      "//evil.example/",
      "/\\evil.example",
      "/%2F/evil.example",
      "/%2f%2fevil.example",
      "/.//evil.example",
      "/./\\evil.example",
      "/..//evil.example",
      "/\t/evil.example",
      "/ /evil.example",
      "https://evil.example/",
      "http:evil.example",
      "javascript:alert(1)",
      "\\\\evil.example",
    ]
    for (const next of variants) {
      const { res } = await login(running.url, { token: TOKEN, next })
      expect(res.status, next).toBe(303)
      const location = String(res.headers.location)
      expect(location, next).toMatch(/^\/(?![/\\])/)
      expect(new URL(location, running.url).origin, next).toBe(new URL(running.url).origin)
    }
    const kept = await login(running.url, { token: TOKEN, next: "/app/session/ses_abc?x=1" })
    expect(kept.res.headers.location).toBe("/app/session/ses_abc?x=1")
  })
})

describe("wrong attempts are rate-limited per client address", () => {
  it("ten wrong bearer tokens in a minute, then 429 with Retry-After, even for the right token; another address is unaffected; a minute later it passes", async () => {
    const from = "127.0.0.3"
    const signedIn = await login(running.url, { token: TOKEN })
    for (let i = 0; i < 10; i++) {
      expect(
        (await send(running.url, "/session", { headers: { authorization: `Bearer wrong-${i}` }, localAddress: from }))
          .status,
      ).toBe(401)
    }
    const limited = await send(running.url, "/session", {
      headers: { authorization: `Bearer ${TOKEN}` },
      localAddress: from,
    })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0)
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60)
    expect(JSON.parse(limited.body).error.code).toBe("too_many_attempts")
    expect(limited.body).not.toContain(TOKEN)
    // ?token= on /event is the same kind of attempt.
    expect((await send(running.url, `/event?token=${TOKEN}`, { localAddress: from })).status).toBe(429)
    // Another address, and a browser already signed in, are not locked out.
    expect(
      (
        await send(running.url, "/session", {
          headers: { authorization: `Bearer ${TOKEN}` },
          localAddress: "127.0.0.4",
        })
      ).status,
    ).toBe(200)
    expect(
      (await send(running.url, "/session", { headers: { cookie: signedIn.cookie! }, localAddress: from })).status,
    ).toBe(200)

    clock += 60_000
    expect(
      (await send(running.url, "/session", { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: from }))
        .status,
    ).toBe(200)
  })

  it("ten wrong sign-ins (token or code) in a minute, then 429 with Retry-After, even for the right token", async () => {
    const from = "127.0.0.5"
    for (let i = 0; i < 10; i++) {
      const fields: Record<string, string> = i % 2 === 0 ? { token: `wrong-${i}` } : { code: `wrong-${i}` }
      expect((await login(running.url, fields, from)).res.status).toBe(401)
    }
    const limited = await login(running.url, { token: TOKEN }, from)
    expect(limited.res.status).toBe(429)
    expect(Number(limited.res.headers["retry-after"])).toBeGreaterThan(0)
    expect(limited.cookie).toBeUndefined()
    expect(limited.res.body).toMatch(/too many/i)
    const json = await send(running.url, "/login", {
      method: "POST",
      headers: { "content-type": "application/json", origin: running.url, "sec-fetch-site": "same-origin" },
      body: JSON.stringify({ token: TOKEN }),
      localAddress: from,
    })
    expect(json.status).toBe(429)
    expect(JSON.parse(json.body).error.code).toBe("too_many_attempts")
    clock += 60_000
    expect((await login(running.url, { token: TOKEN }, from)).res.status).toBe(303)
  })
})

describe("a token long enough beyond loopback", () => {
  it("binding beyond loopback with a token shorter than 32 characters is refused at start, in words, without echoing it", async () => {
    const short = "x"
    const res = await run(
      process.execPath,
      [BIN, "serve", "--port", "0", "--hostname", "0.0.0.0", "--data-dir", tempDir("oc-short-")],
      {
        env: { ...process.env, OPENCODE_SERVER_TOKEN: short },
      },
    ).then(
      (r) => r,
      (e) => e,
    )
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/OPENCODE_SERVER_TOKEN must be at least 32 characters/)
    expect(res.stdout).not.toMatch(/listening/)
  })
})

describe("Content-Security-Policy: script-src 'self'", () => {
  it("on every response: the login page, its script, the API, a refusal, a 404", async () => {
    const answers = [
      await send(running.url, "/login"),
      await send(running.url, "/"),
      await send(running.url, "/session", { headers: { authorization: `Bearer ${TOKEN}` } }),
      await send(running.url, "/session"),
      await send(running.url, "/nowhere", { headers: { authorization: `Bearer ${TOKEN}` } }),
      await send(running.url, "/health", { headers: { host: "attacker.example" } }),
    ]
    for (const answer of answers) {
      const csp = String(answer.headers["content-security-policy"])
      expect(csp, String(answer.status)).toMatch(/(^|;)\s*script-src 'self'\s*(;|$)/)
      expect(csp, String(answer.status)).toMatch(/(^|;)\s*frame-ancestors 'none'\s*(;|$)/)
    }
  })
})
