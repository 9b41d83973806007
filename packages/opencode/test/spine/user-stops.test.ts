/** The two sanctioned stops that are not lifecycle closes: the user's cancel and the watchdog. */
import { afterEach, describe, expect, test } from "vitest"
import { appHeaders, finishedRun, incidentOf, startRun, startApp, type TestServer } from "../harness.ts"
import { link } from "./spine-helpers.ts"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

describe("user cancel", () => {
  test("POST /session/:id/abort: user_cancelled, api_route origin built from the cancel request", async () => {
    server = await startApp({ tickMs: 50 })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const abort = await server.call("POST", `/session/${sessionId}/abort`, {
      directory: dir,
      headers: appHeaders("session.abort", "act_abort_1"),
    })
    expect(abort.body).toBe(true)
    const requestId = abort.headers.get("x-opencode-request-id")
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("user_cancelled")
    expect(summary.interrupt).toMatchObject({
      kind: "user_cancel",
      request: { requestId, route: "/session/:id/abort", method: "POST", actionId: "act_abort_1" },
    })
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", classification: "user_cancelled", missing: [] })
    expect(chain.origin).toMatchObject({ kind: "api_route", request: { requestId }, provenance: { complete: true } })
    expect(link(chain, "renderer")).toMatchObject({ status: "present", ref: "act_abort_1" })
    expect(link(chain, "request")).toMatchObject({ status: "present", ref: requestId })
    expect(link(chain, "lifecycle").status).toBe("not_applicable")
    expect(chain.operation).toBeUndefined()
  })

  test("an abort after the run completed is late, not an interrupt", async () => {
    server = await startApp({ tickMs: 20 })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
    expect((await finishedRun(server, sessionId, runId)).classification).toBe("completed")
    await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
    expect((await finishedRun(server, sessionId, runId)).classification).toBe("completed")
    expect(await incidentOf(server, sessionId, runId)).toBeUndefined()
  })
})

describe("watchdog", () => {
  test("scripted/stall with a 300 ms watchdog: watchdog_timeout, fired", async () => {
    server = await startApp({ tickMs: 50, watchdogMs: 300 })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "scripted/stall")
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("watchdog_timeout")
    expect(summary.watchdog).toMatchObject({ fired: true, timeoutMs: 300 })
    expect(summary.interrupt).toMatchObject({ kind: "watchdog", watchdog: { fired: true } })
    expect(summary.error).toBeUndefined()
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({
      classification: "watchdog_timeout",
      verdict: "diagnosed",
      origin: { kind: "server_handler", handler: "watchdog" },
    })
    expect(link(chain, "request").status).toBe("not_applicable")
  })
})
