/**
 * Shutdown past its deadline while git init holds the directory lock and a user's reload is
 * queued behind it: the run is stopped by the shutdown, so its record names the shutdown's close
 * of its directory as the interrupt, and the queued reload (which never closed anything) only as
 * also requested. It used to name the reload, the first in the queue, as the cause.
 */
import path from "node:path"
import { afterAll, expect, test } from "vitest"
import { createHost } from "../../src/host.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { appHeaders, startApp, startRun, waitFor } from "../harness.ts"
import { directoryKey, lingeringGitBin } from "./spine-helpers.ts"

const PATH = process.env.PATH
afterAll(() => void (process.env.PATH = PATH))

test("a shutdown that times out behind git init is the cause; the reload queued before it is only also requested", async () => {
  const server = await startApp({ settleTimeoutMs: 800, tickMs: 300 })
  const { host } = server.running
  const dir = server.project()
  const key = directoryKey(dir)
  const { sessionId, runId } = await startRun(server, dir, "scripted/silent", { waitForOutput: false })
  process.env.PATH = `${lingeringGitBin(20)}${path.delimiter}${PATH}`
  void server.call("POST", "/project/git/init", { directory: dir })
  await waitFor(() => host.instances.locks.isHeld(key))
  await new Promise((r) => setTimeout(r, 100))
  const reload = server.call("POST", "/instance/reload", { directory: dir, headers: appHeaders("instance.reload") })
  await waitFor(() => (host.instances.get(key)?.queued.length ?? 0) > 0)
  const reloadId = host.instances.get(key)!.queued[0]!.lifecycleId
  const outcome = await server.running.shutdown("SIGTERM")
  void reload.catch(() => {})
  const after = createHost({ dataDir: server.dataDir, readOnly: true })
  try {
    const summary: any = after.sessions.runs(sessionId).find((r: any) => r.runId === runId)?.summary
    expect(outcome).toBe("timed_out")
    // The shutdown's own close of the directory stopped the run.
    expect(summary.interrupt?.lifecycle).toMatchObject({
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      origin: { kind: "shutdown", signal: "SIGTERM" },
    })
    // The reload waiting for the lock was asked too; it is listed, never the cause.
    expect(summary.alsoRequestedBy.map((also: any) => also.lifecycleId)).toEqual([reloadId])
    const chain: any = buildSessionExport(after, sessionId, "diagnostics")?.incidents.find(
      (c: any) => c.runId === runId,
    )
    expect(chain).toMatchObject({
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      origin: { kind: "shutdown" },
      verdict: "partially_diagnosed",
      missing: ["run_summary"],
    })
  } finally {
    after.close()
  }
}, 30_000)
