/**
 * The token in a browser, over a real socket: a page served without the token never contains
 * it; the login page exchanges it for an HttpOnly, SameSite=Strict cookie that is not the token
 * itself; API clients keep `Authorization: Bearer`. A refused request is refused before
 * anything else runs and is only counted. (The printed one-time sign-in code, the cookie's
 * binding and expiry, and the rate limit are in sign-in.test.ts.)
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServer, type RunningServer } from "../../src/server/server.ts"
import { tempDir, waitFor } from "../harness.ts"

const TOKEN = "tok_" + "Zq7".repeat(12)
const APP_SHELL = "APP-SHELL-MARKER"

/** A built app stand-in: the page and one asset. */
function fakeDist(): string {
  const dist = tempDir("oc-dist-")
  writeFileSync(
    path.join(dist, "index.html"),
    `<!doctype html><html><head><title>opencode</title></head><body>${APP_SHELL}</body></html>`,
  )
  mkdirSync(path.join(dist, "assets"))
  writeFileSync(path.join(dist, "assets", "app.js"), "console.log('app')")
  return dist
}

let running: RunningServer
let url: string
let dataDir: string
let defaultDirectory: string
let dist: string

beforeAll(async () => {
  dataDir = tempDir("oc-data-")
  defaultDirectory = tempDir("oc-default-")
  dist = fakeDist()
  running = await startServer({
    port: 0,
    hostname: "127.0.0.1",
    dataDir,
    defaultDirectory,
    token: TOKEN,
    appDist: dist,
    scriptedTickMs: 20,
    env: {},
  })
  url = running.url
})
afterAll(async () => {
  await running.shutdown("api").catch(() => {})
  for (const dir of [dataDir, defaultDirectory, dist]) rmSync(dir, { recursive: true, force: true })
})

const bearer = { authorization: `Bearer ${TOKEN}` }

/** Logs in through the form and returns the `name=value` pair of the cookie it set. */
async function login(token = TOKEN, next = "/"): Promise<{ res: Response; cookie: string | undefined }> {
  const res = await fetch(`${url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: url, "sec-fetch-site": "same-origin" },
    body: new URLSearchParams({ token, next }).toString(),
  })
  const setCookie = res.headers.get("set-cookie") ?? undefined
  return { res, cookie: setCookie?.split(";")[0] }
}

describe("the token is never in a page served without it", () => {
  it("GET / and /app/* without the token answer a small login page, without the token, the app or the default directory", async () => {
    for (const route of ["/", "/app/session/ses_abc", "/?directory=%2Ftmp"]) {
      const res = await fetch(url + route, {
        headers: { accept: "text/html", "sec-fetch-site": "none", "sec-fetch-mode": "navigate" },
      })
      const html = await res.text()
      // A page, not a failure: a 401 document would be a console error on the sign-in page.
      expect(res.status, route).toBe(200)
      expect(res.headers.get("content-type")).toMatch(/text\/html/)
      // Its icon is inline: a /favicon.ico request without the token would be refused.
      expect(html).toContain('<link rel="icon" href="data:,">')
      expect(html).toMatch(/<form[^>]+action="\/login"/)
      expect(html).toMatch(/name="token"/)
      expect(html).not.toContain(TOKEN)
      expect(html).not.toContain(APP_SHELL)
      expect(html).not.toContain(defaultDirectory)
    }
    // The app's assets need the token too.
    const asset = await fetch(`${url}/assets/app.js`)
    expect(asset.status).toBe(401)
    expect(await asset.text()).not.toContain("console.log")
  })

  it("the login exchanges the token for an HttpOnly, SameSite=Strict cookie that is not the token; the cookie opens the app and the API", async () => {
    const wrong = await login("tok_wrong")
    expect(wrong.res.status).toBe(401)
    expect(wrong.res.headers.get("set-cookie")).toBeNull()
    expect(await wrong.res.text()).not.toContain(TOKEN)

    const { res, cookie } = await login(TOKEN, "/app/session/ses_abc?x=1")
    expect(res.status).toBe(303)
    expect(res.headers.get("location")).toBe("/app/session/ses_abc?x=1")
    const setCookie = res.headers.get("set-cookie")!
    expect(setCookie).toMatch(/;\s*HttpOnly/i)
    expect(setCookie).toMatch(/;\s*SameSite=Strict/i)
    expect(setCookie).toMatch(/;\s*Path=\//i)
    expect(cookie).toBeDefined()
    expect(cookie!).not.toContain(TOKEN)
    expect(cookie!).not.toContain(encodeURIComponent(TOKEN))

    const page = await fetch(`${url}/`, { headers: { cookie: cookie! } })
    const html = await page.text()
    expect(page.status).toBe(200)
    expect(html).toContain(APP_SHELL)
    expect(html).not.toContain(TOKEN)
    expect((await fetch(`${url}/assets/app.js`, { headers: { cookie: cookie! } })).status).toBe(200)
    expect((await fetch(`${url}/session`, { headers: { cookie: cookie! } })).status).toBe(200)
    const created = await fetch(`${url}/session`, {
      method: "POST",
      headers: { cookie: cookie!, origin: url, "sec-fetch-site": "same-origin", "content-type": "application/json" },
      body: "{}",
    })
    expect(created.status).toBe(200)

    // A forged cookie, or the token itself as the cookie, is not a login.
    const name = cookie!.split("=")[0]
    for (const forged of [`${name}=x`, `${name}=${TOKEN}`, `${name}=`]) {
      expect((await fetch(`${url}/session`, { headers: { cookie: forged } })).status, forged).toBe(401)
    }
  })

  it("never redirects a login off the server", async () => {
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]) {
      const { res } = await login(TOKEN, next)
      expect(res.status, next).toBe(303)
      expect(res.headers.get("location"), next).toBe("/")
    }
  })

  it("API clients keep Authorization: Bearer, and /event keeps ?token=", async () => {
    expect((await fetch(`${url}/session`, { headers: bearer })).status).toBe(200)
    expect((await fetch(`${url}/session`)).status).toBe(401)
    const event = await fetch(`${url}/event?token=${TOKEN}`)
    expect(event.status).toBe(200)
    await event.body?.cancel()
    const page = await fetch(`${url}/`, { headers: bearer })
    expect(page.status).toBe(200)
    expect(await page.text()).not.toContain(TOKEN)
  })
})

describe("a request without the token is refused first and only counted", () => {
  it("writes no request record and shows in /health as refused.auth", async () => {
    const requestRows = () => {
      running.host.journal.flush()
      return running.host.journal.rows({ kinds: ["request"] }).length
    }
    const health = async () =>
      (await (await fetch(`${url}/health`, { headers: bearer })).json()) as { refused?: { auth: number } }
    const before = requestRows()
    const countedBefore = (await health()).refused?.auth ?? 0
    const dir = tempDir("oc-refused-")
    try {
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${TOKEN}` }] as Record<
        string,
        string
      >[]) {
        const res = await fetch(`${url}/instance/reload`, {
          method: "POST",
          headers: { ...headers, "x-opencode-directory": encodeURIComponent(dir) },
        })
        expect(res.status).toBe(401)
      }
      expect(requestRows()).toBe(before)
      expect((await health()).refused?.auth).toBe(countedBefore + 3)
      // The control: an authorised write is recorded.
      const ok = await fetch(`${url}/session`, {
        method: "POST",
        headers: { ...bearer, "content-type": "application/json", "x-opencode-directory": encodeURIComponent(dir) },
        body: "{}",
      })
      expect(ok.status).toBe(200)
      await waitFor(() => requestRows() === before + 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
