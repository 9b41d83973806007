/**
 * POST /login reads its JSON body through the same reader as every other route: bad JSON, a body
 * nested past the limit, or a field of the wrong type is a 400 naming the problem, never a 500
 * and never read as a wrong token.
 */
import { rmSync } from "node:fs"
import { afterAll, beforeAll, expect, it } from "vitest"
import { startServer, type RunningServer } from "../../src/server/server.ts"
import { tempDir } from "../harness.ts"

const TOKEN = "tok_" + "Lb4".repeat(12)
let running: RunningServer
let dataDir: string
let defaultDirectory: string

beforeAll(async () => {
  dataDir = tempDir("oc-data-")
  defaultDirectory = tempDir("oc-default-")
  running = await startServer({
    port: 0,
    hostname: "127.0.0.1",
    dataDir,
    defaultDirectory,
    token: TOKEN,
    scriptedTickMs: 20,
    env: {},
  })
})
afterAll(async () => {
  await running.shutdown("api").catch(() => {})
  for (const dir of [dataDir, defaultDirectory]) rmSync(dir, { recursive: true, force: true })
})

async function postJson(body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${running.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: running.url, "sec-fetch-site": "same-origin" },
    body,
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

it("a JSON body nested past the limit is 400 invalid_body naming the nesting", async () => {
  const deep = "[".repeat(5000) + "]".repeat(5000)
  const res = await postJson(`{"token":"x","next":${deep}}`)
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe("invalid_body")
  expect(res.body.error.message).toMatch(/nested deeper than 64/)
})

it("invalid JSON is 400 invalid_json; a token of the wrong type is 400 naming token", async () => {
  const bad = await postJson("{token:")
  expect(bad.status).toBe(400)
  expect(bad.body.error.code).toBe("invalid_json")
  const typed = await postJson(JSON.stringify({ token: 42 }))
  expect(typed.status).toBe(400)
  expect(typed.body.error.message).toMatch(/^token/)
})

it("the right token in JSON still logs in (204 and a cookie)", async () => {
  const res = await fetch(`${running.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: running.url, "sec-fetch-site": "same-origin" },
    body: JSON.stringify({ token: TOKEN }),
  })
  expect(res.status).toBe(204)
  expect(res.headers.get("set-cookie")).toMatch(/HttpOnly/)
})
