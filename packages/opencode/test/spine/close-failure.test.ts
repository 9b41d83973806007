/**
 * A close that fails part-way still settles, releases and resolves: the instance never stays
 * `closing` (later requests for the directory would wait forever), and the lifecycle action
 * records which step failed.
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import type { ProviderEvent } from "../../src/provider/provider.ts"
import { startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { directoryKey, installProvider, lifecycleActions } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ settleTimeoutMs: 300 })
  // A provider that ignores its abort signal: its run never settles on its own.
  installProvider(server.running.host, "stuck", async function* (): AsyncGenerator<ProviderEvent> {
    yield { type: "text", text: "working" }
    await new Promise(() => {})
  })
})
afterEach(async () => {
  await server.close()
})

/** `promise`, or "hung" after `ms`. */
function within<T>(promise: Promise<T>, ms = 5000): Promise<T | "hung"> {
  let timer!: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms))),
  ]).finally(() => clearTimeout(timer))
}

test("writing an unsettled run's summary throws: the dispose still finishes, records the failure, and the directory opens again", async () => {
  const { host } = server.running
  const dir = server.project()
  const key = directoryKey(dir)
  await startRun(server, dir, "stuck/model")
  const instance = host.instances.get(key)!
  let released = 0
  instance.resources.push(() => released++)
  ;(host.processor as { finalizeUnsettled: (run: unknown) => void }).finalizeUnsettled = () => {
    throw Object.assign(new Error("SQLITE_FULL: database or disk is full"), { code: "SQLITE_FULL" })
  }

  const dispose = await within(server.call("POST", "/instance/dispose", { directory: dir }))
  expect(dispose).not.toBe("hung")
  if (dispose === "hung") return
  expect(dispose.status).toBe(200)
  expect(instance.state).toBe("closed")
  expect(released).toBe(1)
  expect(host.instances.get(key)).toBeUndefined()

  const action = lifecycleActions(host).find((a) => a.lifecycleId === dispose.headers.get("x-opencode-lifecycle-id"))!
  expect(action.finishedAt).toBeDefined()
  expect(action.failed).toEqual([{ step: "finalize_unsettled", code: "SQLITE_FULL", class: "Error" }])
  // Allow-listed: the error's text is not kept.
  expect(JSON.stringify(action)).not.toContain("disk is full")

  // The directory is usable again: a new session opens a new instance.
  const session = await within(server.call("POST", "/session", { directory: dir, body: {} }))
  expect(session).not.toBe("hung")
  if (session !== "hung") expect(session.status).toBe(200)
})

test("a reload whose new generation cannot open: the close still resolves, the next request opens a fresh instance", async () => {
  const { host } = server.running
  const dir = server.project()
  const key = directoryKey(dir)
  await startRun(server, dir, "scripted/slow")
  const store = host.instances as unknown as { open: (...args: unknown[]) => unknown }
  const open = store.open.bind(store)
  let failures = 1
  store.open = (...args: unknown[]) => {
    if (failures-- > 0) throw Object.assign(new Error("EMFILE: too many open files, watch"), { code: "EMFILE" })
    return open(...args)
  }

  const reload = await within(server.call("POST", "/instance/reload", { directory: dir }))
  expect(reload).not.toBe("hung")
  if (reload === "hung") return
  expect(reload.status).toBe(200)
  expect(reload.body.failed).toEqual([{ step: "reopen", code: "EMFILE", class: "Error" }])
  expect(reload.body.finishedAt).toBeDefined()

  const session = await within(server.call("POST", "/session", { directory: dir, body: {} }))
  expect(session).not.toBe("hung")
  await waitFor(() => host.instances.get(key)?.state === "open")
})
