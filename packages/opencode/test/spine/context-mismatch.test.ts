/**
 * `load` finding the instance's context changed outside the server (a `git init`), and the
 * `POST /project/git/init` route that changes it on purpose: one `load_reload` with a
 * `context_mismatch` origin whose request is only the occasion, and one `reload` with an
 * `api_route` origin whose own change is never a rival cause.
 */
import { execFileSync } from "node:child_process"
import { existsSync, rmSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { appHeaders, finishedRun, incidentOf, startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { directoryKey, lifecycleActions, lingeringGitBin, link } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

describe("load → reload on a context mismatch", () => {
  test("a directory that became a git repository: load_reload, context_mismatch, detected during the next request", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    execFileSync("git", ["init", "--quiet"], { cwd: dir })
    // Any request for the directory is the occasion; this one is a plain read.
    const get = await server.call("GET", "/session", { directory: dir })
    expect(get.status).toBe(200)
    const requestId = get.headers.get("x-opencode-request-id")
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_reload")
    expect(summary.interrupt.lifecycle).toMatchObject({ operation: "load_reload", rootOperation: "load_reload" })
    const origin = summary.interrupt.lifecycle.origin
    expect(origin).toMatchObject({
      kind: "context_mismatch",
      reason: "worktree_mismatch",
      detectedDuring: { requestId, route: "/session", method: "GET", clientKind: "plain" },
      provenance: { complete: true, missing: [] },
    })
    expect(origin.before).toMatch(/^[a-f0-9]{8,64}$/)
    expect(origin.after).toMatch(/^[a-f0-9]{8,64}$/)
    expect(origin.after).not.toBe(origin.before)

    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      classification: "local_instance_reload",
      operation: "load_reload",
      rootOperation: "load_reload",
      missing: [],
    })
    expect(chain.origin.kind).toBe("context_mismatch")
    // The request is the occasion, linked; the renderer never applies.
    expect(link(chain, "request")).toMatchObject({ status: "present", ref: requestId })
    expect(link(chain, "renderer").status).toBe("not_applicable")

    // The new generation serves the next run; the same request again detects nothing.
    const next = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
    expect((await finishedRun(server, next.sessionId, next.runId)).classification).toBe("completed")
    expect(server.running.host.instances.get(directoryKey(dir))?.generation).toBe(2)
    expect(lifecycleActions(server.running.host).filter((a) => a.operation === "load_reload")).toHaveLength(1)
  })

  test("an app request that happens to detect the mismatch is still not the initiator", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    execFileSync("git", ["init", "--quiet"], { cwd: dir })
    const get = await server.call("GET", "/session/status", {
      directory: dir,
      headers: appHeaders("session.list", "act_list_1"),
    })
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.interrupt.lifecycle.origin.detectedDuring).toMatchObject({
      requestId: get.headers.get("x-opencode-request-id"),
      clientKind: "app",
      actionId: "act_list_1",
    })
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain.verdict).toBe("diagnosed")
    expect(link(chain, "renderer").status).toBe("not_applicable")
  })
})

describe("POST /project/git/init", () => {
  test("reload with an api_route origin naming the route", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const init = await server.call("POST", "/project/git/init", {
      directory: dir,
      headers: appHeaders("project.git_init", "act_git_1"),
    })
    expect(init.status).toBe(200)
    expect(init.body.vcs).toBe("git")
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_reload")
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(init.headers.get("x-opencode-lifecycle-id"))
    expect(summary.interrupt.lifecycle).toMatchObject({ operation: "reload", rootOperation: "reload" })
    expect(summary.interrupt.lifecycle.origin).toMatchObject({
      kind: "api_route",
      request: {
        requestId: init.headers.get("x-opencode-request-id"),
        route: "/project/git/init",
        method: "POST",
        clientKind: "app",
        actionId: "act_git_1",
      },
      provenance: { complete: true, missing: [] },
    })
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", operation: "reload", missing: [] })
    // The context change git init made is its own: later requests find nothing to reload.
    await server.call("GET", "/session", { directory: dir })
    const actions = lifecycleActions(server.running.host)
    expect(actions.filter((a) => a.operation === "load_reload")).toHaveLength(0)
    expect(actions.filter((a) => a.operation === "reload")).toHaveLength(1)
  })

  test("a request that sees git init's change mid-flight is recorded on the run, never a rival cause", async () => {
    // A `git` that lingers after `init`, so the route holds the directory lock with the change made.
    const bin = lingeringGitBin(0.6)
    const oldPath = process.env.PATH
    process.env.PATH = `${bin}${path.delimiter}${oldPath}`
    try {
      const dir = server.project()
      const key = directoryKey(dir)
      const { sessionId, runId } = await startRun(server, dir)
      const init = server.call("POST", "/project/git/init", { directory: dir })
      await waitFor(() => existsSync(path.join(dir, ".git", "HEAD")) && server.running.host.instances.locks.isHeld(key))
      const probe = await server.call("GET", "/session", { directory: dir })
      expect(probe.status).toBe(200)
      const done = await init
      const summary = await finishedRun(server, sessionId, runId)
      expect(summary.interrupt.lifecycle.lifecycleId).toBe(done.headers.get("x-opencode-lifecycle-id"))
      expect(summary.interrupt.lifecycle.origin.kind).toBe("api_route")
      expect(summary.alsoRequestedBy).toEqual([
        expect.objectContaining({
          kind: "lifecycle",
          originKind: "context_mismatch",
          operation: "load_reload",
          late: false,
        }),
      ])
      // An echo created no action: it must not borrow the closing action's id.
      expect(summary.alsoRequestedBy[0].lifecycleId).toBeUndefined()
      const chain = await incidentOf(server, sessionId, runId)
      expect(chain.verdict).toBe("diagnosed")
      expect(chain.alsoRequestedBy).toHaveLength(1)
      expect(lifecycleActions(server.running.host).filter((a) => a.operation === "load_reload")).toHaveLength(0)
    } finally {
      process.env.PATH = oldPath
      rmSync(bin, { recursive: true, force: true })
    }
  })
})
