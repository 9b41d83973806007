/**
 * A close journals `abort_requested` only for the runs it stops. A run a user's cancel stopped
 * first, still unwinding when a reload closes its instance, keeps its cancel as its cause; if
 * the process then dies before the run's summary is written, the next start must not read the
 * reload as what stopped it (the crash scan attributes an unfinished run to a close only through
 * that row). The other run the reload did stop still reads as the reload.
 */
import { mkdtempSync, rmSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { afterEach, expect, test } from "vitest"
import { createHost } from "../../src/host.ts"
import type { ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { startApp, type TestServer, waitFor } from "../harness.ts"
import { delay, installProvider, waitForOutput } from "./spine-helpers.ts"

let server: TestServer | undefined
const dirs: string[] = []
afterEach(async () => {
  await server?.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A provider slow to notice an abort: it streams for 4 s whatever happens. */
async function* stubborn(_request: ProviderRequest): AsyncGenerator<ProviderEvent> {
  const until = Date.now() + 4000
  while (Date.now() < until) {
    await delay(50)
    yield { type: "text", text: "." }
  }
  yield { type: "finish", reason: "stop" }
}

test("killed after a cancel and a reload: the cancelled run is crash evidence, the other run reads as the reload", async () => {
  server = await startApp({ settleTimeoutMs: 10_000 })
  const { host } = server.running
  installProvider(host, "stubborn", stubborn)
  const dir = server.project()
  const start = async () => {
    const session = await server!.call("POST", "/session", { directory: dir, body: {} })
    const sessionId = session.body.id as string
    const prompt = await server!.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "go", model: "stubborn/x" },
    })
    expect(prompt.status).toBe(200)
    await waitForOutput(server!, sessionId)
    return { sessionId, runId: prompt.body.runId as string }
  }
  const cancelled = await start()
  const reloaded = await start()

  // The user's cancel reaches the first run before the reload does: it is that run's cause.
  expect((await server.call("POST", `/session/${cancelled.sessionId}/abort`, { directory: dir })).status).toBe(200)
  expect(host.processor.activeRun(cancelled.sessionId)?.interrupt?.kind).toBe("user_cancel")
  void server.call("POST", "/instance/reload", { directory: dir })
  await waitFor(() => host.processor.activeRun(reloaded.sessionId)?.interrupt?.kind === "lifecycle")
  expect(host.processor.activeRun(cancelled.sessionId)?.interrupt?.kind).toBe("user_cancel")

  // The process dies now: its data dir as a kill would leave it, both runs unfinished.
  const copy = mkdtempSync(path.join(os.tmpdir(), "oc-crash-after-cancel-"))
  dirs.push(copy)
  await (host.db as unknown as { backup(file: string): Promise<unknown> }).backup(path.join(copy, "opencode.db"))

  const after = createHost({ dataDir: copy })
  try {
    const chainOf = ({ sessionId, runId }: { sessionId: string; runId: string }) =>
      buildSessionExport(after, sessionId, "diagnostics")!.incidents.find((chain) => chain.runId === runId)!
    const lost = chainOf(cancelled)
    expect(lost.classification).toBe("process_exit_without_finalizer")
    expect(lost.verdict).toBe("crash_evidence")
    expect(lost.operation).toBeUndefined()
    const closed = chainOf(reloaded)
    expect(closed).toMatchObject({ classification: "local_instance_reload", operation: "reload" })
    expect(closed.missing).toContain("run_summary")
  } finally {
    after.close()
  }
}, 60_000)
