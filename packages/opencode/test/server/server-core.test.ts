/**
 * The server core answered in memory is the server less its socket: the same refusals, the same
 * request hop, the same shutdown. The socket's own checks are tested against real sockets
 * (same-user.test.ts, other-user.test.ts, bounds.test.ts).
 */
import { afterEach, describe, expect, it } from "vitest"
import { createServerCore, type ServerCore } from "../../src/server/server.ts"
import { tempDir } from "../harness.ts"

let core: ServerCore | undefined
afterEach(async () => {
  await core?.shutdown("api")
  core = undefined
})

async function coreWith(token?: string): Promise<ServerCore> {
  const dir = tempDir("oc-core-")
  core = await createServerCore({ hostname: "127.0.0.1", dataDir: dir, defaultDirectory: dir, env: {}, token })
  return core
}

describe("createServerCore's in-memory requests", () => {
  it("go through the app's refusals: a foreign Host, another site, a missing token", async () => {
    const server = await coreWith("t".repeat(32))
    const codeOf = async (res: Response) => [res.status, ((await res.json()) as { error: { code: string } }).error.code]
    expect(await codeOf(await server.request("/session", { headers: { host: "evil.example" } }))).toEqual([
      403,
      "forbidden_host",
    ])
    expect(
      await codeOf(
        await server.request("/session", {
          headers: { authorization: `Bearer ${"t".repeat(32)}`, "sec-fetch-site": "cross-site" },
        }),
      ),
    ).toEqual([403, "forbidden_origin"])
    expect((await server.request("/session")).status).toBe(401)
    const ok = await server.request("/session", { headers: { authorization: `Bearer ${"t".repeat(32)}` } })
    expect(ok.status).toBe(200)
    expect(ok.headers.get("x-opencode-request-id")).toMatch(/^req_/)
    expect(ok.headers.get("x-frame-options")).toBe("DENY")
  })

  it("are the same user on loopback: served in same_user mode, with a full URL or a path", async () => {
    const server = await coreWith()
    if (process.platform === "linux") expect(server.peerUserMode).toBe("same_user")
    expect((await server.request(`${server.origin}/health`)).status).toBe(200)
    const health = (await (await server.request("/health")).json()) as { refused: Record<string, number> }
    expect(Object.values(health.refused).every((n) => n === 0)).toBe(true)
  })

  it("are refused with 503 shutting_down once shutdown has begun", async () => {
    const server = await coreWith()
    const closing = server.shutdown("api")
    const res = await server.request("/session", { method: "POST", body: "{}" })
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("shutting_down")
    expect(await closing).toBe("closed")
  })
})
