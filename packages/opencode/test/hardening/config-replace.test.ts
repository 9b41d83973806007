/**
 * `PUT /config` and `PUT /global/config` replace the whole file, so a key the editor deleted is
 * gone on disk (a PATCH can only merge). They keep the PATCH's contract: `If-Match` writes only
 * over the file the client read (else 412 with the current ETag, the file untouched), the body is
 * validated, a write closes the instance(s) citing this request, and a replace that changes no
 * value writes and closes nothing. The route closes before it answers, so what it closed is in
 * the journal when the response arrives.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import { startApp, type TestServer } from "../harness.ts"
import { lifecycleActions } from "../spine/spine-helpers.ts"

const open: TestServer[] = []
afterEach(async () => {
  for (const server of open.splice(0)) await server.close()
})

async function server(): Promise<TestServer> {
  const s = await startApp({ tickMs: 5 })
  open.push(s)
  return s
}

const closesOf = (s: TestServer, operation: string) =>
  lifecycleActions(s.running.host).filter((action) => action.operation === operation)

describe("PUT /config (project)", () => {
  test("a key deleted in the editor is gone on disk; the write closes the project citing this PUT", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, '{"keep":1,"drop":2}')
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const read = await s.call("GET", "/config", { directory: project })
    const put = await s.call("PUT", "/config", {
      directory: project,
      body: { keep: 1, added: true },
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ keep: 1, added: true })
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ keep: 1, added: true })
    expect(put.headers.get("etag")).toBe((await s.call("GET", "/config", { directory: project })).headers.get("etag"))
    const closes = closesOf(s, "dispose_directory")
    expect(closes).toHaveLength(1)
    expect(closes[0]!.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "project",
      change: "modified",
      writtenByRoute: true,
      request: { requestId: put.headers.get("x-opencode-request-id") },
    })
  })

  test("If-Match that no longer names the file is a 412 with the current ETag, and the file is untouched", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, '{"a":1}')
    const read = await s.call("GET", "/config", { directory: project })
    writeFileSync(file, '{"a":1,"edited":"outside"}')
    const put = await s.call("PUT", "/config", {
      directory: project,
      body: {},
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(put.status).toBe(412)
    expect(put.body.error.code).toBe("config_changed")
    expect(put.headers.get("etag")).toBe((await s.call("GET", "/config", { directory: project })).headers.get("etag"))
    expect(readFileSync(file, "utf8")).toBe('{"a":1,"edited":"outside"}')
    // With If-Match "none" it creates the file only while there is none.
    const create = await s.call("PUT", "/config", {
      directory: s.project(),
      body: { a: 1 },
      headers: { "if-match": '"none"' },
    })
    expect(create.status).toBe(200)
  })

  test("a PUT of the same values (another order, other formatting) rewrites nothing and closes nothing", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, '{"b":1,"a":{"x":[1,2]}}')
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const before = lifecycleActions(s.running.host).length
    const mtime = statSync(file).mtimeMs
    const put = await s.call("PUT", "/config", { directory: project, body: { a: { x: [1, 2] }, b: 1 } })
    expect(put.status).toBe(200)
    expect(readFileSync(file, "utf8")).toBe('{"b":1,"a":{"x":[1,2]}}')
    expect(statSync(file).mtimeMs).toBe(mtime)
    expect(lifecycleActions(s.running.host).length).toBe(before)
  })

  test("a file that is not a JSON object can be replaced (a PATCH cannot merge into it)", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, "[not json")
    expect((await s.call("PATCH", "/config", { directory: project, body: { a: 1 } })).status).toBe(409)
    const put = await s.call("PUT", "/config", { directory: project, body: { a: 1 } })
    expect(put.status).toBe(200)
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ a: 1 })
  })

  test.each([
    ["an array", "[1,2]", "body"],
    ["a string", '"x"', "body"],
    ["invalid JSON", "{", "JSON"],
  ])("a body that is %s is a 400 and the file is untouched", async (_, body, names) => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, '{"a":1}')
    const put = await s.call("PUT", "/config", { directory: project, body })
    expect(put.status).toBe(400)
    expect(put.body.error.message).toContain(names)
    expect(readFileSync(file, "utf8")).toBe('{"a":1}')
  })
})

describe("PUT /global/config", () => {
  test("a deleted key is gone on disk; GET answers the file's ETag; the write closes every instance citing this PUT", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(s.dataDir, "config.json")
    expect((await s.call("PATCH", "/global/config", { body: { model: "scripted/quick", note: "x" } })).status).toBe(200)
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const read = await s.call("GET", "/global/config")
    expect(read.headers.get("etag")).toMatch(/^"[0-9a-f]{64}"$/)
    const before = closesOf(s, "dispose_all").length
    const put = await s.call("PUT", "/global/config", {
      body: { note: "y" },
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ note: "y" })
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ note: "y" })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(put.headers.get("etag")).toBe((await s.call("GET", "/global/config")).headers.get("etag"))
    const closes = closesOf(s, "dispose_all")
    expect(closes).toHaveLength(before + 1)
    expect(closes.at(-1)!.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "global",
      writtenByRoute: true,
      request: { requestId: put.headers.get("x-opencode-request-id") },
    })
  })

  test("a stale If-Match is a 412 and the file is untouched; an unknown model is a 400; the same values close nothing", async () => {
    const s = await server()
    const file = path.join(s.dataDir, "config.json")
    writeFileSync(file, '{"note":"hand","model":"scripted/quick"}')
    const read = await s.call("GET", "/global/config")
    writeFileSync(file, '{"note":"edited","model":"scripted/quick"}')
    const stale = await s.call("PUT", "/global/config", {
      body: {},
      headers: { "if-match": read.headers.get("etag")! },
    })
    expect(stale.status).toBe(412)
    expect(stale.body.error.code).toBe("config_changed")
    expect(readFileSync(file, "utf8")).toBe('{"note":"edited","model":"scripted/quick"}')

    const badModel = await s.call("PUT", "/global/config", { body: { model: "scripted/nope" } })
    expect(badModel.status).toBe(400)
    expect(badModel.body.error.message).toMatch(/^model: /)
    const badWorkspace = await s.call("PUT", "/global/config", { body: { workspaces: { w: { url: "not a url" } } } })
    expect(badWorkspace.status).toBe(400)
    expect(readFileSync(file, "utf8")).toBe('{"note":"edited","model":"scripted/quick"}')

    expect((await s.call("POST", "/session", { directory: s.project(), body: {} })).status).toBe(200)
    const before = lifecycleActions(s.running.host).length
    const mtime = statSync(file).mtimeMs
    const same = await s.call("PUT", "/global/config", { body: { model: "scripted/quick", note: "edited" } })
    expect(same.status).toBe(200)
    expect(readFileSync(file, "utf8")).toBe('{"note":"edited","model":"scripted/quick"}')
    expect(statSync(file).mtimeMs).toBe(mtime)
    expect(lifecycleActions(s.running.host).length).toBe(before)
  })
})
