/**
 * Config PATCHes: the global one is serialized (concurrent PATCHes of different keys all
 * survive, each close cites its own PATCH), a `model` PATCH becomes the default model of the
 * next prompt, a PATCH that changes no value writes nothing and closes nothing, and bodies
 * nested too deep to handle are a 400 naming the problem, not a 500.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import { finishedRun, startApp, type TestServer } from "../harness.ts"
import { lifecycleActions, watchGlobalConfigChecks } from "../spine/spine-helpers.ts"

const open: TestServer[] = []
afterEach(async () => {
  for (const server of open.splice(0)) await server.close()
})

async function server(): Promise<TestServer> {
  const s = await startApp({ tickMs: 5 })
  open.push(s)
  return s
}

function nested(depth: number): string {
  return `{"note":${"[".repeat(depth)}1${"]".repeat(depth)}}`
}

describe("PATCH /global/config", () => {
  test("concurrent PATCHes of different keys all survive, and every dispose_all cites a PATCH", async () => {
    const s = await server()
    const project = s.project()
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const watcher = watchGlobalConfigChecks(s.running.host)
    const patches = await Promise.all(
      Array.from({ length: 8 }, (_, i) => s.call("PATCH", "/global/config", { body: { [`key${i}`]: i } })),
    )
    for (const patch of patches) expect(patch.status).toBe(200)
    const onDisk = JSON.parse(readFileSync(path.join(s.dataDir, "config.json"), "utf8"))
    for (let i = 0; i < 8; i++) expect(onDisk[`key${i}`]).toBe(i)
    expect((await s.call("GET", "/global/config")).body).toMatchObject(
      Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`key${i}`, i])),
    )
    // The watcher has judged the file as the last PATCH left it: every echo before it too, none read as an outside edit.
    await watcher.judged()
    const disposals = lifecycleActions(s.running.host).filter((action) => action.operation === "dispose_all")
    expect(disposals.length).toBeGreaterThan(0)
    for (const action of disposals)
      expect((action.origin as { request?: unknown; writtenByRoute?: boolean }).writtenByRoute).toBe(true)
  })

  test("a PATCH of model makes it the default: the next prompt without a model runs it", async () => {
    const s = await server()
    const project = s.project()
    const patch = await s.call("PATCH", "/global/config", { body: { model: "scripted/tool-write" } })
    expect(patch.status).toBe(200)
    expect(patch.body.model).toBe("scripted/tool-write")
    const session = await s.call("POST", "/session", { directory: project, body: {} })
    const prompt = await s.call("POST", `/session/${session.body.id}/prompt`, {
      directory: project,
      body: { text: "go" },
    })
    expect(prompt.status).toBe(200)
    await finishedRun(s, session.body.id, prompt.body.runId)
    const runs = await s.call("GET", `/session/${session.body.id}/run`)
    expect(runs.body.find((run: any) => run.runId === prompt.body.runId).model).toBe("scripted/tool-write")
  })

  test("a PATCH of a model no provider serves is a 400 naming model, and changes nothing", async () => {
    const s = await server()
    const patch = await s.call("PATCH", "/global/config", { body: { model: "scripted/nope" } })
    expect(patch.status).toBe(400)
    expect(patch.body.error.message).toMatch(/^model: /)
    expect((await s.call("GET", "/global/config")).body.model).toBeUndefined()
  })

  test("a PATCH that changes no value rewrites nothing and disposes nothing", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(s.dataDir, "config.json")
    const watcher = watchGlobalConfigChecks(s.running.host)
    // Written by hand: compact, another key order than the route would write.
    writeFileSync(file, '{"note":"hand","model":"scripted/quick"}')
    // The watcher's dispose_all for the hand edit is in before the count is taken.
    await watcher.judged()
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const before = lifecycleActions(s.running.host).filter((action) => action.operation === "dispose_all").length
    const { mtimeMs, ino } = statSync(file)
    const patch = await s.call("PATCH", "/global/config", { body: { model: "scripted/quick", note: "hand" } })
    expect(patch.status).toBe(200)
    // Not written (a write renames a new file over it, so the inode would change): no watcher event can follow.
    expect(readFileSync(file, "utf8")).toBe('{"note":"hand","model":"scripted/quick"}')
    expect(statSync(file)).toMatchObject({ mtimeMs, ino })
    // The route's own close happens before it answers.
    expect(lifecycleActions(s.running.host).filter((action) => action.operation === "dispose_all").length).toBe(before)
  })

  test("config.json written by PATCH is owner-only (0600)", async () => {
    const s = await server()
    expect((await s.call("PATCH", "/global/config", { body: { note: "x" } })).status).toBe(200)
    expect(statSync(path.join(s.dataDir, "config.json")).mode & 0o777).toBe(0o600)
  })
})

describe("PATCH /config (project)", () => {
  test("a PATCH that changes no value rewrites nothing and disposes nothing", async () => {
    const s = await server()
    const project = s.project()
    const file = path.join(project, "opencode.json")
    writeFileSync(file, '{"b":1,"a":2}')
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    const before = lifecycleActions(s.running.host).length
    const patch = await s.call("PATCH", "/config", { directory: project, body: { a: 2 } })
    expect(patch.status).toBe(200)
    expect(readFileSync(file, "utf8")).toBe('{"b":1,"a":2}')
    expect(lifecycleActions(s.running.host).length).toBe(before)
  })
})

describe("bodies nested too deep", () => {
  for (const route of ["/config", "/global/config"]) {
    test(`PATCH ${route} with 100,000 levels of nesting is a 400 naming the nesting`, async () => {
      const s = await server()
      const res = await s.call("PATCH", route, { directory: s.project(), body: nested(100_000) })
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe("invalid_body")
      expect(res.body.error.message).toMatch(/nest/)
      expect((await s.call("GET", "/health")).status).toBe(200)
    })
  }

  test("a prompt with a deeply nested extra field is a 400 too", async () => {
    const s = await server()
    const project = s.project()
    const session = await s.call("POST", "/session", { directory: project, body: {} })
    const res = await s.call("POST", `/session/${session.body.id}/prompt`, {
      directory: project,
      body: `{"text":"go","extra":${nested(100_000)}}`,
    })
    expect(res.status).toBe(400)
    expect(res.body.error.message).toMatch(/nest/)
  })
})
