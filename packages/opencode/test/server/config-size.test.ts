/**
 * A config write is refused when the file it would write is over the size the config readers
 * accept (MAX_CONFIG_BYTES, 1 MiB), whatever the body's size: the file is written pretty-printed,
 * and a PATCH merges into what is there, so a body under the body limit can make a file over it.
 * The refusal is `413 config_too_large` before anything is written or closed: the file keeps its
 * bytes and an active run completes. An oversize file written behind the server's back is
 * mended by a PUT (with or without `If-Match`: its ETag is the digest of its bytes, streamed);
 * a PATCH of it is refused in words that say to PUT a replacement.
 */
import { createHash } from "node:crypto"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import { MAX_CONFIG_BYTES } from "../../src/project/instance-context.ts"
import { finishedRun, startApp, startRun, type TestServer } from "../harness.ts"
import { lifecycleActions } from "../spine/spine-helpers.ts"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

/** ~600 KB compact, ~2.1 MB pretty-printed: under the body limit, over the file limit once written. */
const BIG = JSON.stringify({ list: new Array(300_000).fill(0) })

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex")

/** The digest of the file's bytes, or undefined when there is none (a deep compare of a megabyte is slow). */
const bytesOf = (file: string) => (existsSync(file) ? sha256(readFileSync(file)) : undefined)

type Scope = "project" | "global"

function target(s: TestServer, scope: Scope, dir: string) {
  return scope === "project"
    ? { route: "/config", file: path.join(dir, "opencode.json"), name: "opencode.json" }
    : { route: "/global/config", file: path.join(s.dataDir, "config.json"), name: "config.json" }
}

describe("a write whose file would be over the config limit", () => {
  for (const scope of ["project", "global"] as const) {
    for (const method of ["PATCH", "PUT"] as const) {
      test(`${method} ${scope}: 413 config_too_large, nothing written, the active run completes`, async () => {
        server = await startApp()
        const dir = server.project()
        const { route, file, name } = target(server, scope, dir)
        const saved = await server.call("PUT", route, { directory: dir, body: { keep: 1 } })
        expect(saved.status).toBe(200)
        const before = bytesOf(file)
        const { sessionId, runId } = await startRun(server, dir)
        const closesBefore = lifecycleActions(server.running.host).length

        const write = await server.call(method, route, { directory: dir, body: BIG })
        expect(write.status).toBe(413)
        expect(write.body.error.code).toBe("config_too_large")
        expect(write.body.error.message).toContain(name)
        expect(write.body.error.message).toContain("1 MiB")
        expect(bytesOf(file)).toBe(before)
        expect(lifecycleActions(server.running.host)).toHaveLength(closesBefore)

        const summary = await finishedRun(server, sessionId, runId)
        expect(summary.classification).toBe("completed")
        // The file is still one the routes read and mend.
        expect((await server.call("GET", route, { directory: dir })).status).toBe(200)
        expect((await server.call("PUT", route, { directory: dir, body: {} })).status).toBe(200)
      })
    }
  }

  test("a PATCH whose merge with the file passes the limit is refused; the file keeps its bytes", async () => {
    server = await startApp()
    const dir = server.project()
    const file = path.join(dir, "opencode.json")
    writeFileSync(file, JSON.stringify({ old: "a".repeat(700_000) }))
    const before = bytesOf(file)
    const patch = await server.call("PATCH", "/config", { directory: dir, body: { added: "b".repeat(400_000) } })
    expect(patch.status).toBe(413)
    expect(patch.body.error.code).toBe("config_too_large")
    expect(bytesOf(file)).toBe(before)
  })

  test("a body whose pretty text is exactly the limit saves and reads back; one byte more is refused", async () => {
    server = await startApp()
    const dir = server.project()
    const file = path.join(dir, "opencode.json")
    // `{\n  "s": "…"\n}\n` is the string and 14 bytes more.
    const exact = { s: "x".repeat(MAX_CONFIG_BYTES - 14) }
    const saved = await server.call("PATCH", "/config", { directory: dir, body: exact })
    expect(saved.status).toBe(200)
    expect(statSync(file).size).toBe(MAX_CONFIG_BYTES)
    const read = await server.call("GET", "/config", { directory: dir })
    expect(read.status).toBe(200)
    expect(read.body.s === exact.s).toBe(true)
    const before = bytesOf(file)
    const over = await server.call("PUT", "/config", { directory: dir, body: { s: "y".repeat(MAX_CONFIG_BYTES - 13) } })
    expect(over.status).toBe(413)
    expect(bytesOf(file)).toBe(before)
  })
})

describe("an oversize file written behind the server's back", () => {
  for (const scope of ["project", "global"] as const) {
    test(`${scope}: GET refuses it with its ETag, PATCH says to PUT, PUT {} mends it`, async () => {
      server = await startApp()
      const dir = server.project()
      const { route, file, name } = target(server, scope, dir)
      const oversize = JSON.stringify({ list: new Array(1_200_000).fill(0) })
      writeFileSync(file, oversize)
      expect(statSync(file).size).toBeGreaterThan(MAX_CONFIG_BYTES)

      const read = await server.call("GET", route, { directory: dir })
      expect(read.status).toBe(400)
      expect(read.body.error.code).toBe("file_too_large")
      expect(read.body.error.message).toContain(name)
      expect(read.headers.get("etag")).toBe(`"${sha256(oversize)}"`)

      const patch = await server.call("PATCH", route, { directory: dir, body: { a: 1 } })
      expect(patch.status).toBe(400)
      expect(patch.body.error.code).toBe("file_too_large")
      expect(patch.body.error.message).toMatch(/PUT/)
      expect(bytesOf(file)).toBe(sha256(oversize))

      const stale = await server.call("PUT", route, { directory: dir, body: {}, headers: { "if-match": '"none"' } })
      expect(stale.status).toBe(412)
      expect(stale.headers.get("etag")).toBe(read.headers.get("etag"))
      expect(bytesOf(file)).toBe(sha256(oversize))

      const put = await server.call("PUT", route, {
        directory: dir,
        body: {},
        headers: { "if-match": read.headers.get("etag")! },
      })
      expect(put.status).toBe(200)
      expect(readFileSync(file, "utf8")).toBe("{}\n")
      const after = await server.call("GET", route, { directory: dir })
      expect(after.status).toBe(200)
      expect(after.headers.get("etag")).toBe(put.headers.get("etag"))
    })
  }

  test("PUT {} without If-Match mends it too", async () => {
    server = await startApp()
    const dir = server.project()
    const file = path.join(dir, "opencode.json")
    expect((await server.call("POST", "/session", { directory: dir, body: {} })).status).toBe(200)
    writeFileSync(file, " ".repeat(MAX_CONFIG_BYTES + 1))
    const put = await server.call("PUT", "/config", { directory: dir, body: {} })
    expect(put.status).toBe(200)
    expect(readFileSync(file, "utf8")).toBe("{}\n")
    expect((await server.call("GET", "/config", { directory: dir })).body).toEqual({})
  })
})
