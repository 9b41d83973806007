import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { handleError, handleNotFound } from "../../src/server/errors.ts"
import { auth, requestContext, tokensEqual, type AuthOptions } from "../../src/server/middleware/index.ts"

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
    const lower = await app.request("/instance/reload", { method: "POST", headers: { authorization: `bearer ${TOKEN}` } })
    expect(lower.status).toBe(200)
  })

  it("answers 401 unauthorized JSON without, with a wrong or a malformed token", async () => {
    for (const authorization of [undefined, "Bearer wrong", `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN, "Bearer", `Bearer ${TOKEN} extra`]) {
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
