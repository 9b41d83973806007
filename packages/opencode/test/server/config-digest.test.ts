/**
 * GET /config names the file's digest in its ETag; PATCH /config with If-Match refuses, with a
 * 412, to write over a file that changed since (an edit made on disk is never overwritten
 * silently). Without If-Match a PATCH merges as before.
 */
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { startTestServer, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startTestServer()
})
afterEach(async () => {
  await server.close()
})

const etagOf = (text: string) => `"${createHash("sha256").update(text).digest("hex")}"`

describe("config digest precondition", () => {
  test("GET /config: the ETag is the file's digest, or \"none\" when there is no file", async () => {
    const dir = server.project()
    expect((await server.call("GET", "/config", { directory: dir })).headers.get("etag")).toBe('"none"')
    const text = '{ "model": "scripted/quick" }\n'
    writeFileSync(path.join(dir, "opencode.json"), text)
    expect((await server.call("GET", "/config", { directory: dir })).headers.get("etag")).toBe(etagOf(text))
  })

  test("PATCH /config with a matching If-Match writes and answers the new ETag", async () => {
    const dir = server.project()
    const read = await server.call("GET", "/config", { directory: dir })
    const patched = await server.call("PATCH", "/config", { directory: dir, body: { theme: "dark" }, headers: { "if-match": read.headers.get("etag")! } })
    expect(patched.status).toBe(200)
    const written = readFileSync(path.join(dir, "opencode.json"), "utf8")
    expect(patched.headers.get("etag")).toBe(etagOf(written))
  })

  test("PATCH /config whose If-Match no longer matches the file: 412 config_changed, the file untouched", async () => {
    const dir = server.project()
    const read = await server.call("GET", "/config", { directory: dir })
    const outside = '{ "model": "scripted/slow" }\n'
    writeFileSync(path.join(dir, "opencode.json"), outside)
    const patched = await server.call("PATCH", "/config", { directory: dir, body: { theme: "dark" }, headers: { "if-match": read.headers.get("etag")! } })
    expect(patched.status).toBe(412)
    expect(patched.body.error.code).toBe("config_changed")
    expect(patched.headers.get("etag")).toBe(etagOf(outside))
    expect(readFileSync(path.join(dir, "opencode.json"), "utf8")).toBe(outside)
  })

  test("a malformed If-Match is a 400 naming the header", async () => {
    const dir = server.project()
    const patched = await server.call("PATCH", "/config", { directory: dir, body: { theme: "dark" }, headers: { "if-match": "whatever" } })
    expect(patched.status).toBe(400)
    expect(patched.body.error.code).toBe("invalid_header")
    expect(patched.body.error.message).toMatch(/^if-match: /)
  })
})
