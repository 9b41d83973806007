/**
 * A workspace URL in the global config may carry a user and password. A refusal of a forwarded
 * request names the workspace by its id and the URL by its origin only, so an error body, which
 * is shown, logged and pasted into bug reports (SECURITY.md row 20), never carries the password.
 */
import { afterEach, expect, test } from "vitest"
import { startTestServer, type TestServer } from "../harness.ts"
import { deadUrl } from "../tracing/otlp-receiver.ts"

const PASSWORD = "cnrywspass5b7c"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

test("a forwarding-loop refusal names the workspace and its origin, never the URL's password", async () => {
  server = await startTestServer()
  const port = new URL(server.url).port
  const patched = await server.call("PATCH", "/global/config", {
    body: { workspaces: { loop: { url: `http://alice:${PASSWORD}@127.0.0.1:${port}/base` } } },
  })
  expect(patched.status).toBe(200)

  const res = await server.call("GET", "/session", { headers: { "x-opencode-workspace": "loop" } })
  // Positive control: the forward (to the URL's origin) went round the loop and was refused as one.
  expect(res.status).toBe(409)
  expect(res.body.error.code).toBe("forwarding_loop")
  expect(res.body.error.message).toContain(`workspace "loop" points back at this server (http://127.0.0.1:${port})`)
  expect(JSON.stringify(res.body)).not.toContain(PASSWORD)
  expect(JSON.stringify(res.body)).not.toContain("alice")
})

test("an unreachable workspace's refusal names the workspace only", async () => {
  server = await startTestServer()
  const url = new URL(await deadUrl())
  url.username = "alice"
  url.password = PASSWORD
  await server.call("PATCH", "/global/config", { body: { workspaces: { gone: { url: url.href } } } })

  const res = await server.call("GET", "/session", { headers: { "x-opencode-workspace": "gone" } })
  expect(res.status).toBe(502)
  expect(res.body.error).toMatchObject({ code: "workspace_unreachable", message: 'workspace "gone" did not answer' })
  expect(JSON.stringify(res.body)).not.toContain(PASSWORD)
})
