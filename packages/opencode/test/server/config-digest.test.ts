/**
 * GET /config names the file's digest in its ETag; PATCH /config with If-Match refuses, with a
 * 412, to write over a file that changed since (an edit made on disk is never overwritten
 * silently), a file deleted since included. Without If-Match a PATCH merges as before. A file
 * that exists but cannot be read is never taken for an absent one.
 */
import { createHash } from "node:crypto"
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { startApp, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
afterEach(async () => {
  await server.close()
})

const etagOf = (text: string) => `"${createHash("sha256").update(text).digest("hex")}"`

describe("config digest precondition", () => {
  test('GET /config: the ETag is the file\'s digest, or "none" when there is no file', async () => {
    const dir = server.project()
    expect((await server.call("GET", "/config", { directory: dir })).headers.get("etag")).toBe('"none"')
    const text = '{ "model": "scripted/quick" }\n'
    writeFileSync(path.join(dir, "opencode.json"), text)
    expect((await server.call("GET", "/config", { directory: dir })).headers.get("etag")).toBe(etagOf(text))
  })

  test("PATCH /config with a matching If-Match writes and answers the new ETag", async () => {
    const dir = server.project()
    const read = await server.call("GET", "/config", { directory: dir })
    const patched = await server.call("PATCH", "/config", {
      directory: dir,
      body: { theme: "dark" },
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(patched.status).toBe(200)
    const written = readFileSync(path.join(dir, "opencode.json"), "utf8")
    expect(patched.headers.get("etag")).toBe(etagOf(written))
  })

  test("PATCH /config whose If-Match no longer matches the file: 412 config_changed, the file untouched", async () => {
    const dir = server.project()
    const read = await server.call("GET", "/config", { directory: dir })
    const outside = '{ "model": "scripted/slow" }\n'
    writeFileSync(path.join(dir, "opencode.json"), outside)
    const patched = await server.call("PATCH", "/config", {
      directory: dir,
      body: { theme: "dark" },
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(patched.status).toBe(412)
    expect(patched.body.error.code).toBe("config_changed")
    expect(patched.headers.get("etag")).toBe(etagOf(outside))
    expect(readFileSync(path.join(dir, "opencode.json"), "utf8")).toBe(outside)
  })

  /** Where each config lives, for the tests that cover both. */
  const files = [
    { route: "/config", file: (dir: string) => path.join(dir, "opencode.json"), name: "opencode.json" },
    { route: "/global/config", file: () => path.join(server.dataDir, "config.json"), name: "config.json" },
  ]

  for (const { route, file } of files) {
    for (const method of ["PATCH", "PUT"] as const) {
      test(`${method} ${route} whose If-Match names a file deleted since: 412, ETag "none", nothing created`, async () => {
        const dir = server.project()
        writeFileSync(file(dir), '{ "note": "read" }\n')
        const read = await server.call("GET", route, { directory: dir })
        expect(read.headers.get("etag")).toBe(etagOf('{ "note": "read" }\n'))
        rmSync(file(dir))
        const written = await server.call(method, route, {
          directory: dir,
          body: { note: "mine" },
          headers: { "if-match": read.headers.get("etag")! },
        })
        expect(written.status).toBe(412)
        expect(written.body.error.code).toBe("config_changed")
        expect(written.headers.get("etag")).toBe('"none"')
        expect(existsSync(file(dir))).toBe(false)
      })
    }
  }

  for (const { route, file, name } of files) {
    // A symlink to itself: root reads past any permission bits, but no one can open this (ELOOP).
    test(`${route}: a file that exists but cannot be read is a 409 naming it, never "none", and is never written over`, async () => {
      const dir = server.project()
      symlinkSync(path.basename(file(dir)), file(dir))
      const read = await server.call("GET", route, { directory: dir })
      expect(read.status).toBe(409)
      expect(read.body.error.code).toBe("config_unreadable")
      expect(read.body.error.message).toMatch(new RegExp(`^${name.replace(".", "\\.")} cannot be read`))
      expect(read.body.error.message).not.toContain(dir)
      for (const headers of [{ "if-match": '"none"' }, {}] as Record<string, string>[]) {
        for (const method of ["PATCH", "PUT"] as const) {
          const written = await server.call(method, route, { directory: dir, body: { note: "mine" }, headers })
          expect(written.status, `${method} ${JSON.stringify(headers)}`).toBe(409)
          expect(written.body.error.code).toBe("config_unreadable")
        }
      }
      expect(lstatSync(file(dir)).isSymbolicLink()).toBe(true)
    })
  }

  test("a malformed If-Match is a 400 naming the header", async () => {
    const dir = server.project()
    const patched = await server.call("PATCH", "/config", {
      directory: dir,
      body: { theme: "dark" },
      headers: { "if-match": "whatever" },
    })
    expect(patched.status).toBe(400)
    expect(patched.body.error.code).toBe("invalid_header")
    expect(patched.body.error.message).toMatch(/^if-match: /)
  })
})
