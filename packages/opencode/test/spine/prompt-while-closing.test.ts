/**
 * A prompt that arrives while its instance is closing never starts a run born aborted: during a
 * dispose it gets `409 instance_closing`; during a reload it waits for the new generation.
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import type { ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import { finishedRun, startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { aborted, delay, directoryKey, installProvider } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
  installProvider(server.running.host, "lingering", lingering)
})
afterEach(async () => {
  await server.close()
})

/** Takes a while to settle after its abort, so the instance stays `closing` long enough to observe. */
async function* lingering(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
  yield { type: "text", text: "working" }
  await aborted(request.signal)
  await delay(400)
  throw request.signal.reason
}

async function closingWith(operation: "dispose" | "reload") {
  const dir = server.project()
  const key = directoryKey(dir)
  const other = await server.call("POST", "/session", { directory: dir, body: {} })
  const first = await startRun(server, dir, "lingering/x")
  const close = server.call("POST", `/instance/${operation}`, { directory: dir })
  await waitFor(() => server.running.host.instances.get(key)?.state === "closing")
  return { dir, key, otherId: other.body.id as string, first, close }
}

test("during a dispose: 409 instance_closing, and no run is recorded", async () => {
  const { otherId, first, close } = await closingWith("dispose")
  const prompt = await server.call("POST", `/session/${otherId}/prompt`, {
    body: { text: "hi", model: "scripted/quick" },
  })
  expect(prompt.status).toBe(409)
  expect(prompt.body.error.code).toBe("instance_closing")
  await close
  expect((await finishedRun(server, first.sessionId, first.runId)).classification).toBe("local_instance_dispose")
  expect((await server.call("GET", `/session/${otherId}/run`)).body).toEqual([])
})

test("during a reload: waits for the new generation and completes there", async () => {
  const { key, otherId, first, close } = await closingWith("reload")
  const generation = server.running.host.instances.get(key)!.generation
  const prompt = await server.call("POST", `/session/${otherId}/prompt`, {
    body: { text: "hi", model: "scripted/quick" },
  })
  expect(prompt.status).toBe(200)
  await close
  expect((await finishedRun(server, first.sessionId, first.runId)).classification).toBe("local_instance_reload")
  const summary = await finishedRun(server, otherId, prompt.body.runId)
  expect(summary.classification).toBe("completed")
  expect(summary.instance.generation).toBe(generation + 1)
  expect(summary.interrupt).toBeUndefined()
})
