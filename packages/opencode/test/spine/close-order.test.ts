/**
 * The order the close primitive keeps, pinned: the action and each run's `abort_requested` are
 * journalled before any run is aborted (write-ahead), resources are released only after the runs
 * settled, a config write's own watcher echo never starts a second action; and no request against
 * a generation is lost: a dispose queued behind git init's lock, and a dispose or a user's cancel
 * arriving just after the close, are all on the run (`alsoRequestedBy`, the later ones `late`).
 */
import { existsSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import type { ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import { finishedRun, startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import {
  aborted,
  delay,
  directoryKey,
  installProvider,
  lifecycleActions,
  lingeringGitBin,
  watchGlobalConfigChecks,
} from "./spine-helpers.ts"

let server: TestServer
afterEach(async () => {
  await server.close()
})

/** Puts a `git` on PATH that runs the real one, then lingers after `init` (git init's route holds the lock meanwhile). */
function lingeringGit(): () => void {
  const bin = lingeringGitBin(0.6)
  process.env.PATH = `${bin}${path.delimiter}${process.env.PATH}`
  return () => {
    process.env.PATH = process.env.PATH!.replace(`${bin}${path.delimiter}`, "")
    rmSync(bin, { recursive: true, force: true })
  }
}

describe("write-ahead and release order", () => {
  test("when a run's signal aborts, its action and abort_requested are already in the journal", async () => {
    server = await startApp()
    const { host } = server.running
    const seen: { started: boolean; abortRequested: boolean }[] = []
    installProvider(host, "probe", async function* (request: ProviderRequest): AsyncGenerator<ProviderEvent> {
      request.signal.addEventListener("abort", () => {
        // Synchronously, at the moment of the abort: what would a crash right now leave behind?
        const lifecycleId = (request.signal.reason as { lifecycle?: { lifecycleId: string } }).lifecycle?.lifecycleId
        const rows = host.journal.rows({ kinds: ["lifecycle.started", "abort_requested"] })
        seen.push({
          started: rows.some((row) => row.kind === "lifecycle.started" && row.lifecycleId === lifecycleId),
          abortRequested: rows.some((row) => row.kind === "abort_requested" && row.lifecycleId === lifecycleId),
        })
      })
      yield { type: "text", text: "working" }
      await aborted(request.signal)
    })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "probe/model")
    await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, sessionId, runId)
    expect(seen).toEqual([{ started: true, abortRequested: true }])
  })

  test("an instance's resources are released only after its runs settled", async () => {
    server = await startApp()
    const { host } = server.running
    const order: string[] = []
    installProvider(host, "slowstop", async function* (request: ProviderRequest): AsyncGenerator<ProviderEvent> {
      yield { type: "text", text: "working" }
      await aborted(request.signal)
      // Tearing down takes a while; the instance's watchers must still be there meanwhile.
      await delay(150)
      order.push("run settled")
    })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "slowstop/model")
    host.instances.get(directoryKey(dir))!.resources.push(() => order.push("resources released"))
    await server.call("POST", "/instance/dispose", { directory: dir })
    await finishedRun(server, sessionId, runId)
    expect(order).toEqual(["run settled", "resources released"])
  })
})

describe("config echo", () => {
  test("PATCH /global/config: the watcher's echo of the route's own write starts no second dispose_all", async () => {
    server = await startApp()
    const { host } = server.running
    const dir = server.project()
    await startRun(server, dir)
    const watcher = watchGlobalConfigChecks(host)
    const patch = await server.call("PATCH", "/global/config", { body: { model: "scripted/quick" } })
    expect(patch.status).toBe(200)
    // Until the watcher has judged the written file, a second dispose_all could still come.
    await watcher.judged()
    const alls = lifecycleActions(host).filter((a) => a.operation === "dispose_all")
    expect(alls).toHaveLength(1)
    expect(alls[0]!.origin).toMatchObject({ kind: "config_invalidation", scope: "global", writtenByRoute: true })
  })

  test("a config edit seen while git init holds the lock is that reload's echo, not a second close", async () => {
    const restore = lingeringGit()
    try {
      server = await startApp()
      const dir = server.project()
      const key = directoryKey(dir)
      const { sessionId, runId } = await startRun(server, dir)
      const init = server.call("POST", "/project/git/init", { directory: dir })
      await waitFor(() => existsSync(path.join(dir, ".git", "HEAD")) && server.running.host.instances.locks.isHeld(key))
      writeFileSync(path.join(dir, "opencode.json"), `{ "model": "scripted/quick" }\n`)
      expect((await init).status).toBe(200)
      const summary = await finishedRun(server, sessionId, runId)
      expect(summary.interrupt.lifecycle.operation).toBe("reload")
      expect(summary.alsoRequestedBy).toContainEqual(
        expect.objectContaining({ originKind: "config_invalidation", late: false }),
      )
      // The watcher handled the edit as that echo: one call decides echo or close, so a close would be journalled already.
      expect(lifecycleActions(server.running.host).filter((a) => a.origin.kind === "config_invalidation")).toEqual([])
      // The reload read the edited config: the new generation stays open.
      expect(server.running.host.instances.get(key)).toMatchObject({ generation: 2, state: "open" })
    } finally {
      restore()
    }
  })
})

describe("no request against a generation is lost", () => {
  test("a dispose sent while git init holds the directory lock is on the interrupted run", async () => {
    const restore = lingeringGit()
    try {
      server = await startApp()
      const dir = server.project()
      const key = directoryKey(dir)
      const { sessionId, runId } = await startRun(server, dir)
      const init = server.call("POST", "/project/git/init", { directory: dir })
      await waitFor(() => existsSync(path.join(dir, ".git", "HEAD")) && server.running.host.instances.locks.isHeld(key))
      const dispose = server.call("POST", "/instance/dispose", { directory: dir })
      const [initDone, disposeDone] = await Promise.all([init, dispose])
      const summary = await finishedRun(server, sessionId, runId)
      expect(summary.interrupt.lifecycle.lifecycleId).toBe(initDone.headers.get("x-opencode-lifecycle-id"))
      expect(summary.alsoRequestedBy).toContainEqual(
        expect.objectContaining({
          kind: "lifecycle",
          lifecycleId: disposeDone.headers.get("x-opencode-lifecycle-id"),
          operation: "dispose",
          originKind: "api_route",
        }),
      )
    } finally {
      restore()
    }
  })

  test("a dispose arriving just after the close is kept on the closed run as late", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const first = await server.call("POST", "/instance/dispose", { directory: dir })
    expect((await finishedRun(server, sessionId, runId)).interrupt.lifecycle.lifecycleId).toBe(
      first.headers.get("x-opencode-lifecycle-id"),
    )
    const second = await server.call("POST", "/instance/dispose", { directory: dir })
    const secondId = second.headers.get("x-opencode-lifecycle-id")
    await waitFor(async () => (await finishedRun(server, sessionId, runId)).alsoRequestedBy.length > 0)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(first.headers.get("x-opencode-lifecycle-id"))
    expect(summary.classification).toBe("local_instance_dispose")
    expect(summary.alsoRequestedBy).toEqual([
      expect.objectContaining({ kind: "lifecycle", lifecycleId: secondId, operation: "dispose", late: true }),
    ])
  })

  test("a user's cancel arriving just after the close is kept on the closed run as late, naming its request", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const dispose = await server.call("POST", "/instance/dispose", { directory: dir })
    expect((await finishedRun(server, sessionId, runId)).classification).toBe("local_instance_dispose")
    const cancel = await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
    expect(cancel.status).toBe(200)
    const requestId = cancel.headers.get("x-opencode-request-id")
    await waitFor(async () => (await finishedRun(server, sessionId, runId)).alsoRequestedBy.length > 0)
    const summary = await finishedRun(server, sessionId, runId)
    // The cause stands; the cancel is on the run, late.
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(dispose.headers.get("x-opencode-lifecycle-id"))
    expect(summary.alsoRequestedBy).toEqual([expect.objectContaining({ kind: "user_cancel", late: true, requestId })])
  })

  test("a dispose after the directory opened a new generation is not put on the old run", async () => {
    server = await startApp()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    await server.call("POST", "/instance/dispose", { directory: dir })
    await finishedRun(server, sessionId, runId)
    expect((await server.call("POST", "/session", { directory: dir, body: {} })).status).toBe(200)
    const second = await server.call("POST", "/instance/dispose", { directory: dir })
    expect(second.status).toBe(200)
    // A request reaching a closed run is added to its summary before the dispose answers: nothing can arrive later.
    expect((await finishedRun(server, sessionId, runId)).alsoRequestedBy).toEqual([])
  })
})
