/**
 * Shutdown while a reload is in progress: a prompt admitted before the shutdown, waiting for the
 * reload's next generation, must not start a run after dispose_all took its snapshot. It used to
 * open a new instance the shutdown never closed, start its run there, and answer 503
 * storage_unavailable (or, with the database still open, 200 and a run read as a crash at the
 * next start). It is now refused as the shutdown refuses new requests: 503 shutting_down.
 */
import { afterEach, expect, test } from "vitest"
import type { ProviderEvent } from "../../src/provider/provider.ts"
import { createHost } from "../../src/host.ts"
import { startApp, startRun, type TestServer, waitFor } from "../harness.ts"
import { aborted, delay, directoryKey, installProvider } from "./spine-helpers.ts"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
})

test("a prompt waiting for a reload's next generation does not start a run after shutdown's dispose_all", async () => {
  server = await startApp({ settleTimeoutMs: 3000 })
  const { host } = server.running
  // Settles 400 ms after its abort: the reload stays in progress meanwhile.
  installProvider(host, "lag", async function* (req): AsyncGenerator<ProviderEvent> {
    yield { type: "text", text: "working" }
    await aborted(req.signal)
    await delay(400)
  })
  const dir = server.project()
  const key = directoryKey(dir)
  await startRun(server, dir, "lag/model")
  const s2 = await server.call("POST", "/session", { directory: dir, body: {} })
  expect(s2.status).toBe(200)

  const reload = server.call("POST", "/instance/reload", { directory: dir })
  await waitFor(() => host.instances.get(key)?.state === "closing")
  // Admitted before the shutdown: waits for the reload's next generation.
  const prompt = server.call("POST", `/session/${s2.body.id}/prompt`, {
    directory: dir,
    body: { text: "go", model: "scripted/slow" },
  })
  await delay(50)
  const started: string[] = []
  let shuttingDown = false
  const processor = host.processor as any
  const start = processor.start.bind(processor)
  processor.start = (...args: any[]) => {
    if (shuttingDown)
      started.push(
        `start called after shutdown began (instance generation ${args[0].generation}, state ${args[0].state})`,
      )
    return start(...args)
  }
  shuttingDown = true
  const shutdown = server.running.shutdown("SIGTERM")
  const answered = await prompt
  await reload
  const outcome = await shutdown
  server = undefined as any
  expect(host.instances.list(), "an instance opened after shutdown's dispose_all, never closed").toEqual([])
  expect(started, "a run was started after shutdown's dispose_all took its snapshot").toEqual([])
  expect(answered.status).toBe(503)
  expect(answered.body?.error?.code).toBe("shutting_down")
  const after = createHost({ dataDir: (host as any).dataDir, readOnly: true })
  try {
    const runs = after.sessions.runs(s2.body.id)
    expect(outcome).toBe("closed")
    // Either the prompt was refused, or its run was closed by the shutdown with a summary.
    if (answered.status === 200) {
      const run = runs.find((r: any) => r.runId === answered.body.runId)
      expect(run?.summary, "a run started during shutdown was left without a summary").toBeDefined()
    } else {
      expect(runs).toEqual([])
    }
  } finally {
    after.close()
  }
})
