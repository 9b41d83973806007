/**
 * Pages on another loopback port are same-site to the server (a site ignores the port), so a
 * check for `cross-site` alone let their GETs through. Over a real socket: any `Sec-Fetch-Site`
 * other than `same-origin` or `none` is refused; a GET never opens an instance for a directory
 * nobody opened; every response forbids framing; and a refused request does no work (no
 * request record, no directory resolved): it is only counted in `/health`.
 */
import net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { directoryKey } from "../../src/project/directory-key.ts"
import { startTestServer, waitFor, type TestServer } from "../harness.ts"

/** One request over a raw socket: a browser's Host, Origin and Sec-Fetch-* headers, which fetch will not set. */
async function raw(url: string, head: string, body = ""): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    let data = ""
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => (data += chunk))
    socket.on("error", () => {})
    socket.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), text: data }))
    const length = body ? `\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}` : ""
    socket.write(head.replace(/\n/g, "\r\n") + length + "\r\nconnection: close\r\n\r\n" + body)
  })
}

let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ tickMs: 50 })
})
afterAll(async () => {
  await s.close()
})
const port = () => new URL(s.url).port
const refused = async () =>
  (await s.call("GET", "/health")).body.refused as { user: number; host: number; origin: number; auth: number }

describe("a page on another loopback port", () => {
  it("is refused by Sec-Fetch-Site: same-site (or anything but same-origin and none), GETs included", async () => {
    const dir = s.project()
    for (const site of ["same-site", "cross-site", "Same-Site", "bogus"]) {
      for (const [method, route] of [
        ["GET", "/session"],
        ["GET", "/project/current"],
        ["GET", "/"],
        ["POST", "/instance/reload"],
      ] as const) {
        const res = await raw(
          s.url,
          `${method} ${route} HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: ${site}\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
        )
        expect(res.status, `${site} ${method} ${route}`).toBe(403)
        expect(res.text).toContain("forbidden_origin")
      }
    }
    for (const site of ["same-origin", "none"]) {
      const res = await raw(
        s.url,
        `GET /session HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: ${site}\nx-opencode-directory: ${encodeURIComponent(dir)}`,
      )
      expect(res.status, site).toBe(200)
    }
  })

  it("is refused by its Origin: another port of the same loopback host is another origin", async () => {
    const res = await raw(
      s.url,
      `GET /session HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://127.0.0.1:${Number(port()) + 1}`,
    )
    expect(res.status).toBe(403)
    expect(res.text).toContain("forbidden_origin")
  })

  it("cannot frame the app: every response, refusals included, says frame-ancestors 'none' and X-Frame-Options: DENY", async () => {
    const heads = [
      `GET /health HTTP/1.1\nhost: 127.0.0.1:${port()}`,
      `GET / HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: none`,
      `GET /app/session/ses_x HTTP/1.1\nhost: 127.0.0.1:${port()}`,
      `GET /health HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: same-site`,
      `GET /health HTTP/1.1\nhost: attacker.example`,
      `GET /nowhere HTTP/1.1\nhost: 127.0.0.1:${port()}`,
    ]
    for (const head of heads) {
      const res = await raw(s.url, head)
      expect(res.text, head).toMatch(/\r\ncontent-security-policy: [^\r]*frame-ancestors 'none'/i)
      expect(res.text, head).toMatch(/\r\nx-frame-options: DENY\r\n/i)
    }
  })
})

describe("GETs never open instances for directories nobody opened", () => {
  it("GET /project/current, /session, /config and /session/status answer from disk and storage without opening an instance", async () => {
    const before = s.running.host.instances.list().length
    const dirs = Array.from({ length: 20 }, () => s.project())
    for (const dir of dirs) {
      const project = await s.call("GET", `/project/current?directory=${encodeURIComponent(dir)}`)
      expect(project.status).toBe(200)
      expect(project.body.directory).toBe(dir)
      for (const route of ["/session", "/config", "/session/status"])
        expect((await s.call("GET", route, { directory: dir })).status, route).toBe(200)
    }
    expect(s.running.host.instances.list().length).toBe(before)
    for (const dir of dirs) expect(s.running.host.instances.get(directoryKey(dir))).toBeUndefined()
  })

  it("a directory is opened by a write (creating a session), after which GETs see its instance", async () => {
    const dir = s.project()
    const created = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(created.status).toBe(200)
    expect(s.running.host.instances.get(directoryKey(dir))?.state).toBe("open")
    const project = await s.call("GET", "/project/current", { directory: dir })
    expect(project.body.directory).toBe(dir)
    const listed = await s.call("GET", "/session", { directory: dir })
    expect(listed.body.map((session: any) => session.id)).toEqual([created.body.id])
  })
})

describe("a refused request is refused first and only counted", () => {
  const requestRows = () => {
    s.running.host.journal.flush()
    return s.running.host.journal.rows({ kinds: ["request"] }).length
  }

  it("a foreign Host, a foreign Origin or Sec-Fetch-Site: same-site writes no request record and shows in /health as refused", async () => {
    const dir = s.project()
    const counted = await refused()
    const before = requestRows()
    const attempts = [
      `POST /instance/reload HTTP/1.1\nhost: attacker.example\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
      `POST /session HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://127.0.0.1:1\nx-opencode-directory: ${encodeURIComponent(dir)}\ncontent-length: 0`,
      `POST /instance/dispose HTTP/1.1\nhost: 127.0.0.1:${port()}\nsec-fetch-site: same-site\nx-opencode-directory: ${encodeURIComponent(dir + "/../" + dir.split("/").pop())}\ncontent-length: 0`,
    ]
    for (const head of attempts) expect((await raw(s.url, head)).status, head.split("\n")[0]).toBe(403)
    expect(requestRows()).toBe(before)
    expect(await refused()).toEqual({
      user: counted.user,
      host: counted.host + 1,
      origin: counted.origin + 2,
      auth: counted.auth,
    })
    // The control: the same write from the server's own page is recorded.
    const own = await raw(
      s.url,
      `POST /session HTTP/1.1\nhost: 127.0.0.1:${port()}\norigin: http://127.0.0.1:${port()}\nsec-fetch-site: same-origin\nx-opencode-directory: ${encodeURIComponent(dir)}`,
      "{}",
    )
    expect(own.status).toBe(200)
    await waitFor(() => requestRows() === before + 1)
  })
})
