import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { handleError, handleNotFound } from "../../src/server/errors.ts"
import {
  auth,
  AuthFailures,
  requestContext,
  tokenRefusal,
  tokensEqual,
  type AuthOptions,
} from "../../src/server/middleware/index.ts"
import { safeNext, SignInCodes } from "../../src/server/routes/login.ts"

const TOKEN = "s3cret-token_value"

function setup(options: AuthOptions) {
  let seq = 0
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++ }))
  app.use(auth(options))
  app.get("/", (c) => c.text("page"))
  app.get("/assets/app.js", (c) => c.text("js"))
  app.get("/event", (c) => c.text("stream"))
  app.post("/instance/reload", (c) => c.json(true))
  return app
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code
}

describe("auth", () => {
  const app = setup({ token: TOKEN, publicPaths: (p) => p === "/" || p.startsWith("/assets/") })

  it("lets a request with the bearer token through", async () => {
    const res = await app.request("/instance/reload", { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(200)
    const lower = await app.request("/instance/reload", {
      method: "POST",
      headers: { authorization: `bearer ${TOKEN}` },
    })
    expect(lower.status).toBe(200)
  })

  it("answers 401 unauthorized JSON without, with a wrong or a malformed token", async () => {
    for (const authorization of [
      undefined,
      "Bearer wrong",
      `Bearer ${TOKEN}x`,
      `Basic ${TOKEN}`,
      TOKEN,
      "Bearer",
      `Bearer ${TOKEN} extra`,
    ]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
      const res = await app.request("/instance/reload", { method: "POST", headers })
      expect(res.status, String(authorization)).toBe(401)
      expect(await codeOf(res)).toBe("unauthorized")
      expect(res.headers.get("www-authenticate")).toBe("Bearer")
      expect(res.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    }
  })

  it("serves public paths without a token", async () => {
    expect((await app.request("/")).status).toBe(200)
    expect((await app.request("/assets/app.js")).status).toBe(200)
  })

  it("accepts ?token= on /event only", async () => {
    expect((await app.request(`/event?token=${TOKEN}`)).status).toBe(200)
    expect((await app.request("/event?token=wrong")).status).toBe(401)
    expect((await app.request("/event")).status).toBe(401)
    expect((await app.request(`/instance/reload?token=${TOKEN}`, { method: "POST" })).status).toBe(401)
  })

  it("refuses unknown paths before revealing they do not exist", async () => {
    expect((await app.request("/nowhere")).status).toBe(401)
  })

  it("passes everything when no token is configured", async () => {
    const open = setup({ token: undefined })
    expect((await open.request("/instance/reload", { method: "POST" })).status).toBe(200)
    expect((await setup({ token: "" }).request("/event")).status).toBe(200)
  })
})

describe("tokensEqual", () => {
  it("compares exactly, whatever the lengths", () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true)
    expect(tokensEqual(TOKEN, `${TOKEN}x`)).toBe(false)
    expect(tokensEqual("", TOKEN)).toBe(false)
    expect(tokensEqual("é", "é")).toBe(true)
  })
})

describe("tokenRefusal", () => {
  it("beyond loopback: no token, or one under 32 characters, is refused in words that never quote it; loopback keeps shorter tokens", () => {
    expect(tokenRefusal(undefined, "0.0.0.0")).toMatch(/requires OPENCODE_SERVER_TOKEN/)
    const short = tokenRefusal("abc", "192.168.1.5")
    expect(short).toMatch(/at least 32 characters/)
    expect(short).not.toContain("abc")
    expect(tokenRefusal("x".repeat(32), "0.0.0.0")).toBeUndefined()
    expect(tokenRefusal("x", "127.0.0.1")).toBeUndefined()
    expect(tokenRefusal(undefined, "::1")).toBeUndefined()
  })
})

describe("AuthFailures", () => {
  it("refuses an address after `limit` failures inside the window, frees it when the oldest leaves the window, and forgets the least recent addresses past its cap", () => {
    let now = 1_000_000
    const failures = new AuthFailures({ limit: 3, windowMs: 60_000, maxAddresses: 2, now: () => now })
    for (let i = 0; i < 3; i++) {
      expect(failures.retryAfter("a")).toBeUndefined()
      failures.record("a")
      now += 1000
    }
    expect(failures.retryAfter("a")).toBe(57)
    now += 57_000
    expect(failures.retryAfter("a")).toBeUndefined()
    failures.record("b")
    failures.record("c")
    failures.record("c")
    failures.record("c")
    expect(failures.retryAfter("c")).toBeGreaterThan(0)
    // "a" was the least recently failed of three: forgotten.
    failures.record("b")
    failures.record("b")
    expect(failures.retryAfter("b")).toBeGreaterThan(0)
    expect(failures.retryAfter("c")).toBeGreaterThan(0)
  })
})

describe("safeNext and SignInCodes", () => {
  it("keeps a path of this server and sends anything else, and the login page itself, to /", () => {
    expect(safeNext("/app/session/ses_1?x=1")).toBe("/app/session/ses_1?x=1")
    for (const next of [
      "//e.example",
      "/\\e.example",
      "/.//e.example",
      "/%2F/e.example",
      "/\n/e.example",
      "https://e.example",
      "/login",
      "/login/sign-in.js",
      undefined,
      "",
    ]) {
      expect(safeNext(next), String(next)).toBe("/")
    }
  })

  it("a code works once, before it expires; an unknown code never", () => {
    let now = 0
    const codes = new SignInCodes({ ttlMs: 1000, now: () => now })
    const once = codes.issue()
    expect(codes.redeem(once)).toBe(true)
    expect(codes.redeem(once)).toBe(false)
    const late = codes.issue()
    now = 1001
    expect(codes.redeem(late)).toBe(false)
    expect(codes.redeem("made-up")).toBe(false)
  })
})
