import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { handleError, handleNotFound } from "../../src/server/errors.ts"
import {
  hostnameOf,
  hostOrigin,
  isLoopbackHostname,
  requestContext,
  type HostOriginOptions,
} from "../../src/server/middleware/index.ts"

function setup(options: HostOriginOptions = {}) {
  let seq = 0
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++ }))
  app.use(hostOrigin(options))
  app.post("/instance/reload", (c) => c.json(true))
  app.get("/session", (c) => c.json([]))
  return app
}

function reload(app: Hono, headers: Record<string, string>) {
  return app.request("http://127.0.0.1:4096/instance/reload", { method: "POST", headers })
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code
}

describe("hostOrigin", () => {
  const app = setup({ hostname: "127.0.0.1" })

  it("allows loopback hosts on any port", async () => {
    for (const host of ["localhost:4096", "LOCALHOST", "127.0.0.1:4096", "127.1.2.3", "[::1]:4096", "[::1]"]) {
      expect((await reload(app, { host })).status, host).toBe(200)
    }
  })

  it("refuses a DNS-rebound or foreign Host with 403 forbidden_host", async () => {
    for (const host of [
      "evil.example",
      "evil.example:4096",
      "app.localhost:4096",
      "127.0.0.1.evil.example",
      "10.0.0.5:4096",
      "localhost:4096@evil",
      "127.0.0.256",
      "",
    ]) {
      const res = await reload(app, { host })
      expect(res.status, host).toBe(403)
      expect(await codeOf(res)).toBe("forbidden_host")
      expect(res.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    }
  })

  it("allows the configured hostname, and only it beyond loopback", async () => {
    const lan = setup({ hostname: "192.168.1.5", allowedHosts: ["devbox.lan"] })
    expect((await reload(lan, { host: "192.168.1.5:4096" })).status).toBe(200)
    expect((await reload(lan, { host: "DEVBOX.lan:80" })).status).toBe(200)
    expect((await reload(lan, { host: "192.168.1.6:4096" })).status).toBe(403)
    const v6 = setup({ hostname: "[fe80::1]" })
    expect((await reload(v6, { host: "[fe80::1]:4096" })).status).toBe(200)
  })

  it("refuses a cross-site Origin with 403 forbidden_origin", async () => {
    for (const origin of [
      "http://evil.example",
      "http://localhost:5173",
      "https://127.0.0.1:4096",
      "null",
      "not a url",
    ]) {
      const res = await reload(app, { host: "127.0.0.1:4096", origin })
      expect(res.status, origin).toBe(403)
      expect(await codeOf(res)).toBe("forbidden_origin")
    }
  })

  it("refuses Sec-Fetch-Site: cross-site even without an Origin (a GET)", async () => {
    const res = await app.request("http://127.0.0.1:4096/session", {
      headers: { host: "127.0.0.1:4096", "sec-fetch-site": "cross-site" },
    })
    expect(res.status).toBe(403)
    expect(await codeOf(res)).toBe("forbidden_origin")
  })

  it("allows the server's own origin, and requests with no Origin (curl, the SDK)", async () => {
    expect(
      (await reload(app, { host: "127.0.0.1:4096", origin: "http://127.0.0.1:4096", "sec-fetch-site": "same-origin" }))
        .status,
    ).toBe(200)
    expect((await reload(app, { host: "localhost", origin: "http://localhost:80" })).status).toBe(200)
    expect((await reload(app, { host: "127.0.0.1:4096" })).status).toBe(200)
    expect((await reload(app, { host: "127.0.0.1:4096", "sec-fetch-site": "none" })).status).toBe(200)
  })

  it("allows configured extra origins", async () => {
    const dev = setup({ allowedOrigins: ["http://localhost:5173"] })
    expect((await reload(dev, { host: "localhost:4096", origin: "http://localhost:5173" })).status).toBe(200)
  })

  it("falls back to the URL's host when there is no Host header (app.request)", async () => {
    expect((await app.request("/session")).status).toBe(200)
    expect((await app.request("http://evil.example/session")).status).toBe(403)
  })
})

describe("hostnameOf / isLoopbackHostname", () => {
  it("parses Host values", () => {
    expect(hostnameOf("LocalHost:4096")).toBe("localhost")
    expect(hostnameOf("[::1]:80")).toBe("::1")
    expect(hostnameOf("[::1")).toBeUndefined()
    expect(hostnameOf("a:b:c")).toBeUndefined()
    expect(hostnameOf("user@host")).toBeUndefined()
  })

  it("knows loopback", () => {
    expect(isLoopbackHostname("127.255.255.254")).toBe(true)
    expect(isLoopbackHostname("::1")).toBe(true)
    expect(isLoopbackHostname("0.0.0.0")).toBe(false)
    expect(isLoopbackHostname("localhost.evil.example")).toBe(false)
  })
})
