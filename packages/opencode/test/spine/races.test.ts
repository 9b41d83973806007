/**
 * Overlapping actions on one directory: the first abort to reach a run is its cause, every other
 * action requested against the same generation is kept in `alsoRequestedBy`, and nested actions
 * (the children of a `dispose_all`) keep their parent.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { finishedRun, incidentOf, startRun, startApp, type TestServer } from "../harness.ts"
import { directoryKey, lifecycleActions } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

const handler = (name: string) => ({ kind: "server_handler" as const, handler: name })

describe("racing actions on one directory", () => {
  test("reload and dispose called together: the reload is the cause, the dispose is also requested", async () => {
    const { instances } = server.running.host
    const dir = server.project()
    const key = directoryKey(dir)
    const { sessionId, runId } = await startRun(server, dir)
    const generation = instances.get(key)!.generation
    const [reload, dispose] = await Promise.all([
      instances.reload(key, handler("race_reload")),
      instances.dispose(key, handler("race_dispose")),
    ])
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_reload")
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(reload.lifecycleId)
    expect(summary.alsoRequestedBy).toEqual([
      expect.objectContaining({
        kind: "lifecycle",
        lifecycleId: dispose.lifecycleId,
        operation: "dispose",
        originKind: "server_handler",
        late: false,
      }),
    ])
    expect(reload.instances).toEqual([{ instanceId: summary.instance.instanceId, generation }])
    // The dispose then closed the generation the reload opened (no runs of its own).
    expect(dispose.instances).toEqual([{ instanceId: summary.instance.instanceId, generation: generation + 1 }])
    expect(dispose.runIds).toEqual([])
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", operation: "reload" })
    expect(chain.alsoRequestedBy.map((a: any) => a.lifecycleId)).toEqual([dispose.lifecycleId])
  })

  test("over HTTP, fired without awaiting: exactly one cause; every other action requested before the run ended is kept", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const [reload, dispose] = await Promise.all([
      server.call("POST", "/instance/reload", { directory: dir }),
      server.call("POST", "/instance/dispose", { directory: dir }),
    ])
    const ids = [reload.headers.get("x-opencode-lifecycle-id"), dispose.headers.get("x-opencode-lifecycle-id")]
    const summary = await finishedRun(server, sessionId, runId)
    const cause = summary.interrupt.lifecycle.lifecycleId
    expect(ids).toContain(cause)
    const actions = lifecycleActions(server.running.host)
    const other = actions.find((a) => a.lifecycleId === ids.find((id) => id !== cause))!
    const also = summary.alsoRequestedBy.map((a: any) => a.lifecycleId)
    expect(also).not.toContain(cause)
    // Same generation only: requested before the run's summary, it is on the run; after, it is not.
    if (other.seq < summary.seq) expect(also).toEqual([other.lifecycleId])
    else expect(also).toEqual([])
  })

  test("a run of the next generation never lists the action that closed the previous one", async () => {
    const dir = server.project()
    const first = await startRun(server, dir)
    const reload = await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, first.sessionId, first.runId)
    const second = await startRun(server, dir)
    const dispose = await server.call("POST", "/instance/dispose", { directory: dir })
    const summary = await finishedRun(server, second.sessionId, second.runId)
    expect(summary.interrupt.lifecycle.lifecycleId).toBe(dispose.headers.get("x-opencode-lifecycle-id"))
    expect(summary.instance.generation).toBe(2)
    expect(summary.alsoRequestedBy.map((a: any) => a.lifecycleId)).not.toContain(
      reload.headers.get("x-opencode-lifecycle-id"),
    )
  })
})

describe("nested actions", () => {
  test("dispose_all racing a reload: its child keeps the parent and is kept on the run", async () => {
    const { instances } = server.running.host
    const a = server.project()
    const b = server.project()
    const runA = await startRun(server, a)
    const runB = await startRun(server, b)
    const keyA = directoryKey(a)
    const [reload, all] = await Promise.all([
      instances.reload(keyA, handler("race_reload")),
      instances.disposeAll(handler("race_all")),
    ])
    const children = lifecycleActions(server.running.host).filter((x) => x.parentId === all.lifecycleId)
    expect(children).toHaveLength(2)
    for (const child of children)
      expect(child).toMatchObject({
        operation: "dispose_directory",
        rootOperation: "dispose_all",
        rootId: all.lifecycleId,
      })

    const summaryA = await finishedRun(server, runA.sessionId, runA.runId)
    expect(summaryA.interrupt.lifecycle.lifecycleId).toBe(reload.lifecycleId)
    const childA = children.find((c) => c.directoryKeys[0] === keyA)!
    expect(summaryA.alsoRequestedBy).toEqual([
      expect.objectContaining({ lifecycleId: childA.lifecycleId, operation: "dispose_directory", late: false }),
    ])

    const summaryB = await finishedRun(server, runB.sessionId, runB.runId)
    expect(summaryB.classification).toBe("local_instance_dispose_all")
    expect(summaryB.interrupt.lifecycle).toMatchObject({
      operation: "dispose_directory",
      parentId: all.lifecycleId,
      rootId: all.lifecycleId,
    })
    const chainB = await incidentOf(server, runB.sessionId, runB.runId)
    expect(chainB.lifecyclePath.map((s: any) => s.lifecycleId)).toEqual([
      all.lifecycleId,
      summaryB.interrupt.lifecycle.lifecycleId,
    ])
    expect(chainB.verdict).toBe("diagnosed")
  })

  test("dispose_all first, then a reload: the child is the cause, the reload is also requested and closes nothing", async () => {
    const { instances } = server.running.host
    const dir = server.project()
    const key = directoryKey(dir)
    const { sessionId, runId } = await startRun(server, dir)
    const [all, reload] = await Promise.all([
      instances.disposeAll(handler("race_all")),
      instances.reload(key, handler("race_reload")),
    ])
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose_all")
    expect(summary.interrupt.lifecycle).toMatchObject({ parentId: all.lifecycleId, rootOperation: "dispose_all" })
    expect(summary.alsoRequestedBy).toEqual([
      expect.objectContaining({ lifecycleId: reload.lifecycleId, operation: "reload" }),
    ])
    expect(reload.instances).toEqual([])
  })
})
