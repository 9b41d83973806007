/**
 * A close a watcher starts has no request waiting on it, so its failure would reach no one: it is
 * counted (`/health` names `watcher_close_failed`) and logged as its class and code, never hidden
 * and never with its text.
 */
import { rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, expect, test, vi } from "vitest"
import { startApp, type TestServer, waitFor } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
let restore = () => {}
afterEach(async () => {
  vi.restoreAllMocks()
  // Shutdown closes everything through the same methods: give them back first.
  restore()
  await server.close()
})

const failure = () =>
  Promise.reject(Object.assign(new Error("SQLITE_IOERR at /home/alice/secret"), { code: "SQLITE_IOERR" }))

/** Opens the directory's instance (its watchers with it), then breaks the closes the watchers start. */
async function openWithFailingCloses(): Promise<string> {
  const dir = server.project()
  expect((await server.call("POST", "/session", { directory: dir, body: {} })).status).toBe(200)
  const { instances } = server.running.host
  const { disposeDirectory, disposeAll } = instances
  restore = () => Object.assign(instances, { disposeDirectory, disposeAll })
  instances.disposeDirectory = failure
  instances.disposeAll = failure
  return dir
}

async function degraded(): Promise<string[]> {
  return (await server.call("GET", "/health")).body.degraded ?? []
}

test.each([
  [
    "an edit of the project's opencode.json",
    "config_watch",
    (dir: string) => writeFileSync(path.join(dir, "opencode.json"), '{ "theme": "b" }\n'),
  ],
  ["the project directory removed", "directory_watch", (dir: string) => rmSync(dir, { recursive: true, force: true })],
  [
    "an edit of the global config.json",
    "global_config_watch",
    () => writeFileSync(path.join(server.dataDir, "config.json"), '{ "note": "b" }\n'),
  ],
])(
  "%s whose close fails: /health says watcher_close_failed, the log names class and code only",
  async (_, watcher, change) => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {})
    const dir = await openWithFailingCloses()
    expect(await degraded()).not.toContain("watcher_close_failed")
    change(dir)
    await waitFor(async () => (await degraded()).includes("watcher_close_failed"))
    const lines = log.mock.calls.map((call) => call.join(" "))
    expect(lines).toContain(`${watcher}: the close it started failed (Error, code SQLITE_IOERR)`)
    expect(lines.join("\n")).not.toContain("alice")
  },
)
