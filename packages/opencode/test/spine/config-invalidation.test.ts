/**
 * Config invalidation: `PATCH /config` (the writing request is the origin's request), an edit by
 * any other program (no request, and never the request that happened to create the instance),
 * and the global config (`PATCH /global/config` or an external edit): `dispose_all`.
 */
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { appHeaders, finishedRun, incidentOf, startApp, type TestServer } from "../harness.ts"
import { lifecycleActions, link, startRunWithIds, watchGlobalConfigChecks } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

describe("project config", () => {
  test("PATCH /config: dispose_directory, config_invalidation with the PATCH as its request; an unchanged PATCH closes nothing", async () => {
    const dir = server.project()
    expect((await server.call("PATCH", "/config", { directory: dir, body: { theme: "a" } })).status).toBe(200)
    const { sessionId, runId } = await startRunWithIds(server, dir)
    const run = server.running.host.processor.activeRun(sessionId)
    const before = lifecycleActions(server.running.host).length

    const same = await server.call("PATCH", "/config", { directory: dir, body: { theme: "a" } })
    expect(same.status).toBe(200)
    expect(server.running.host.processor.activeRun(sessionId)).toBe(run)
    expect(run!.isFinished).toBe(false)
    expect(lifecycleActions(server.running.host)).toHaveLength(before)

    const patch = await server.call("PATCH", "/config", {
      directory: dir,
      body: { theme: "b" },
      headers: appHeaders("config.update", "act_cfg_1"),
    })
    expect(patch.status).toBe(200)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose_directory")
    expect(summary.interrupt.lifecycle).toMatchObject({
      operation: "dispose_directory",
      rootOperation: "dispose_directory",
    })
    expect(summary.interrupt.lifecycle.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "project",
      change: "modified",
      request: {
        requestId: patch.headers.get("x-opencode-request-id"),
        route: "/config",
        method: "PATCH",
        actionId: "act_cfg_1",
      },
      provenance: { complete: true, missing: [] },
    })
    expect(summary.interrupt.lifecycle.origin.fileKey).toMatch(/^[a-f0-9]{8,64}$/)
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", operation: "dispose_directory", missing: [] })
    expect(link(chain, "request")).toMatchObject({ status: "present", ref: patch.headers.get("x-opencode-request-id") })
    expect(link(chain, "renderer").status).toBe("not_applicable")
    // One close for one write: the watcher's echo of it is not a second action.
    expect(lifecycleActions(server.running.host).filter((a) => a.operation === "dispose_directory")).toHaveLength(1)
    for (const also of chain.alsoRequestedBy) expect(also).toMatchObject({ originKind: "config_invalidation" })
  })

  test.each([
    ["created", false],
    ["modified", true],
  ] as const)(
    "an external edit (%s): config_invalidation with no request, never the request that created the instance",
    async (change, existed) => {
      const dir = server.project()
      const file = path.join(dir, "opencode.json")
      if (existed) writeFileSync(file, '{ "theme": "a" }\n')
      // The instance is created inside these requests; the watcher it starts must not carry them.
      const { sessionId, runId, requestIds } = await startRunWithIds(server, dir)
      writeFileSync(file, '{ "theme": "edited elsewhere" }\n')
      const summary = await finishedRun(server, sessionId, runId)
      expect(summary.classification).toBe("local_instance_dispose_directory")
      const origin = summary.interrupt.lifecycle.origin
      expect(origin).toMatchObject({
        kind: "config_invalidation",
        scope: "project",
        change,
        provenance: { complete: true, missing: [] },
      })
      expect(origin.request).toBeUndefined()
      expect(origin.writtenByRoute).toBeUndefined()
      const chain = await incidentOf(server, sessionId, runId)
      expect(chain).toMatchObject({ verdict: "diagnosed", operation: "dispose_directory", missing: [] })
      expect(link(chain, "request").status).toBe("not_applicable")
      expect(link(chain, "renderer").status).toBe("not_applicable")
      expect(chain.requestRecord).toBeUndefined()
      const action = lifecycleActions(server.running.host).find(
        (a) => a.lifecycleId === summary.interrupt.lifecycle.lifecycleId,
      )
      for (const requestId of requestIds) {
        expect(JSON.stringify(chain)).not.toContain(requestId)
        expect(JSON.stringify(action)).not.toContain(requestId)
      }
    },
  )
})

describe("global config", () => {
  test("PATCH /global/config: dispose_all over every instance, config_invalidation scope global with the PATCH as its request", async () => {
    const a = server.project()
    const b = server.project()
    const runA = await startRunWithIds(server, a)
    const runB = await startRunWithIds(server, b)
    const patch = await server.call("PATCH", "/global/config", {
      body: { note: "x" },
      headers: appHeaders("global_config.update", "act_gcfg_1"),
    })
    expect(patch.status).toBe(200)
    for (const run of [runA, runB]) {
      const summary = await finishedRun(server, run.sessionId, run.runId)
      expect(summary.classification).toBe("local_instance_dispose_all")
      expect(summary.interrupt.lifecycle).toMatchObject({
        operation: "dispose_directory",
        rootOperation: "dispose_all",
      })
      const chain = await incidentOf(server, run.sessionId, run.runId)
      expect(chain).toMatchObject({ verdict: "diagnosed", rootOperation: "dispose_all", missing: [] })
      expect(chain.origin).toMatchObject({
        kind: "config_invalidation",
        scope: "global",
        request: {
          requestId: patch.headers.get("x-opencode-request-id"),
          route: "/global/config",
          method: "PATCH",
          actionId: "act_gcfg_1",
        },
      })
      expect(chain.lifecyclePath.map((step: any) => step.operation)).toEqual(["dispose_all", "dispose_directory"])
    }
    // The watcher's echo of the route's own write is not a second dispose_all.
    expect(lifecycleActions(server.running.host).filter((a) => a.operation === "dispose_all")).toHaveLength(1)
  })

  test("PUT /config and PUT /global/config (replacing the file, a key deleted) interrupt a run with the PUT as the origin's request", async () => {
    const dir = server.project()
    writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({ theme: "a", dropped: true }))
    const local = await startRunWithIds(server, dir)
    const put = await server.call("PUT", "/config", {
      directory: dir,
      body: { theme: "a" },
      headers: appHeaders("config.save", "act_put_1"),
    })
    expect(put.status).toBe(200)
    const summary = await finishedRun(server, local.sessionId, local.runId)
    expect(summary.classification).toBe("local_instance_dispose_directory")
    const chain = await incidentOf(server, local.sessionId, local.runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", missing: [] })
    expect(chain.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "project",
      request: {
        requestId: put.headers.get("x-opencode-request-id"),
        route: "/config",
        method: "PUT",
        actionId: "act_put_1",
      },
    })

    const other = server.project()
    const global = await startRunWithIds(server, other)
    const gput = await server.call("PUT", "/global/config", {
      body: { note: "replaced" },
      headers: appHeaders("config.save", "act_put_2"),
    })
    expect(gput.status).toBe(200)
    await finishedRun(server, global.sessionId, global.runId)
    const gchain = await incidentOf(server, global.sessionId, global.runId)
    expect(gchain).toMatchObject({ verdict: "diagnosed", rootOperation: "dispose_all", missing: [] })
    expect(gchain.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "global",
      request: {
        requestId: gput.headers.get("x-opencode-request-id"),
        route: "/global/config",
        method: "PUT",
        actionId: "act_put_2",
      },
    })
  })

  test("an external edit of <dataDir>/config.json: dispose_all, config_invalidation scope global, no request", async () => {
    const dir = server.project()
    const { sessionId, runId, requestIds } = await startRunWithIds(server, dir)
    writeFileSync(path.join(server.dataDir, "config.json"), '{ "note": "edited elsewhere" }\n')
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose_all")
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      rootOperation: "dispose_all",
      operation: "dispose_directory",
      missing: [],
    })
    expect(chain.origin).toMatchObject({
      kind: "config_invalidation",
      scope: "global",
      change: "created",
      provenance: { complete: true },
    })
    expect(chain.origin.request).toBeUndefined()
    expect(link(chain, "request").status).toBe("not_applicable")
    for (const requestId of requestIds) expect(JSON.stringify(chain)).not.toContain(requestId)
  })

  test("another program putting back content our route once wrote is its edit: the run it interrupts names no request", async () => {
    const file = path.join(server.dataDir, "config.json")
    const { host } = server.running
    const externalDisposals = () =>
      lifecycleActions(host).filter(
        (action) =>
          action.operation === "dispose_all" &&
          action.origin.kind === "config_invalidation" &&
          !(action.origin as { writtenByRoute?: boolean }).writtenByRoute,
      ).length
    // Our route writes X; its echo is ours.
    let watcher = watchGlobalConfigChecks(host)
    expect((await server.call("PATCH", "/global/config", { body: { note: "x" } })).status).toBe(200)
    const x = readFileSync(file, "utf8")
    await watcher.judged()
    expect(externalDisposals()).toBe(0)
    // Another program writes Y, then, with a run active, puts X back.
    watcher = watchGlobalConfigChecks(host)
    writeFileSync(file, '{ "note": "y" }\n')
    await watcher.judged()
    expect(externalDisposals()).toBe(1)
    const { sessionId, runId } = await startRunWithIds(server, server.project())
    writeFileSync(file, x)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose_all")
    expect(externalDisposals()).toBe(2)
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain.origin).toMatchObject({ kind: "config_invalidation", scope: "global", change: "modified" })
    expect(chain.origin.request).toBeUndefined()
    expect(chain.verdict).toBe("diagnosed")
  })
})
