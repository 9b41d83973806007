/**
 * Each lifecycle route interrupts a real active run, and the recorded chain names the
 * operation, the initiator and the run.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { appHeaders, finishedRun, incidentOf, startRun, startApp, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
afterEach(async () => {
  await server.close()
})

describe("lifecycle routes interrupt active runs with a complete origin", () => {
  test("POST /instance/reload from the app: local_instance_reload, diagnosed", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const reload = await server.call("POST", "/instance/reload", {
      directory: dir,
      headers: appHeaders("instance.reload", "act_reload_1"),
    })
    expect(reload.status).toBe(200)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_reload")
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(reload.headers.get("x-opencode-lifecycle-id"))
    expect(summary.interrupt.lifecycle.origin).toMatchObject({
      kind: "api_route",
      request: {
        route: "/instance/reload",
        method: "POST",
        clientKind: "app",
        actionId: "act_reload_1",
        actionName: "instance.reload",
      },
      provenance: { complete: true, missing: [] },
    })
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", operation: "reload", rootOperation: "reload", missing: [] })
    expect(chain.retry).toEqual({ safe: true, basis: ["no_side_effects", "visible_output_seen"] })
    // The reload opened a new generation: a new run in the same directory works.
    const next = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
    expect((await finishedRun(server, next.sessionId, next.runId)).classification).toBe("completed")
  })

  test("POST /instance/dispose from a plain client: renderer hop not applicable", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const dispose = await server.call("POST", "/instance/dispose", { directory: dir })
    expect(dispose.body).toBe(true)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose")
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain.verdict).toBe("diagnosed")
    expect(chain.links.find((link: any) => link.hop === "renderer").status).toBe("not_applicable")
  })

  test("an app request without an action id: partially diagnosed, missing renderer_action", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    await server.call("POST", "/instance/reload", { directory: dir, headers: { "x-opencode-client": "app/0.1.0" } })
    await finishedRun(server, sessionId, runId)
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(chain.missing).toContain("renderer_action")
  })

  test("POST /global/dispose: two directories, two runs, one parent action", async () => {
    const a = server.project()
    const b = server.project()
    const runA = await startRun(server, a)
    const runB = await startRun(server, b)
    const res = await server.call("POST", "/global/dispose", { headers: appHeaders("global.dispose") })
    const rootId = res.headers.get("x-opencode-lifecycle-id")
    const summaryA = await finishedRun(server, runA.sessionId, runA.runId)
    const summaryB = await finishedRun(server, runB.sessionId, runB.runId)
    for (const summary of [summaryA, summaryB]) {
      expect(summary.classification).toBe("local_instance_dispose_all")
      expect(summary.interrupt.lifecycle).toMatchObject({
        operation: "dispose_directory",
        rootOperation: "dispose_all",
        rootId,
        parentId: rootId,
      })
    }
    expect(summaryA.interrupt.lifecycle.lifecycleId).not.toBe(summaryB.interrupt.lifecycle.lifecycleId)
    const chain = await incidentOf(server, runA.sessionId, runA.runId)
    expect(chain.lifecyclePath.map((step: any) => step.operation)).toEqual(["dispose_all", "dispose_directory"])
    expect(chain.verdict).toBe("diagnosed")
  })
})
