/**
 * Precedence: once a run's signal is aborted, what its provider or tools throw while being torn
 * down is a consequence of the close, never the cause. The run is classified by its interrupt.
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import { ProviderError, type ProviderEvent, type ProviderRequest } from "../../src/provider/provider.ts"
import { ToolError, type Tool } from "../../src/tool/tool.ts"
import { z } from "zod"
import { finishedRun, incidentOf, startRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { aborted, delay, installProvider } from "./spine-helpers.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
  installProvider(server.running.host, "teardown", stream, [flakyTool])
})
afterEach(async () => {
  await server.close()
})

/** A stream that, once its connection is torn down, fails the way a real HTTP stream does. */
async function* stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
  if (request.model === "socket") {
    yield { type: "text", text: "partial answer" }
    await aborted(request.signal)
    await delay(5)
    throw new TypeError("terminated")
  }
  if (request.model === "provider-error") {
    yield { type: "text", text: "partial answer" }
    await aborted(request.signal)
    throw new ProviderError("provider_disconnected", "stream closed: socket hang up", 502)
  }
  // "tool": call a tool that fails when its resources are released.
  if (request.messages.at(-1)?.role === "tool") return
  yield { type: "text", text: "calling a tool" }
  yield { type: "tool_call", call: { id: "call_teardown", name: "flaky_read", input: {} } }
  yield { type: "finish", reason: "tool_calls" }
}

const flakyTool: Tool = {
  name: "flaky_read",
  description: "reads until its handle is closed",
  kind: "read",
  input: z.object({}),
  async execute(_input, ctx) {
    await aborted(ctx.signal)
    throw new ToolError("io_error", "EBADF: file handle closed")
  },
}

test("scripted/silent interrupted by a reload: local_instance_reload, not provider_error", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir, "scripted/silent", { waitForOutput: false })
  await waitFor(() => server.running.host.processor.activeRun(sessionId)?.phase === "provider_waiting")
  await server.call("POST", "/instance/reload", { directory: dir })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_reload")
  expect(summary.interrupt.phase).toBe("provider_waiting")
  expect(summary.visibleOutput).toBe(false)
  expect(summary.retry).toEqual({ safe: true, basis: ["no_side_effects"] })
  expect((await incidentOf(server, sessionId, runId)).verdict).toBe("diagnosed")
})

test.each(["socket", "provider-error"])(
  "a provider stream that throws (%s) after the close: still the close",
  async (model) => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, `teardown/${model}`)
    await server.call("POST", "/instance/dispose", { directory: dir })
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose")
    expect(summary.error).toBeUndefined()
    const chain = await incidentOf(server, sessionId, runId)
    expect(chain).toMatchObject({ verdict: "diagnosed", operation: "dispose" })
    expect(chain.error).toBeUndefined()
  },
)

test("a tool that throws when its handle is released: still the close, the tool marked interrupted", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir, "teardown/tool")
  await waitFor(() => server.running.host.processor.activeRun(sessionId)?.phase === "tool_running")
  await server.call("POST", "/instance/reload", { directory: dir })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_reload")
  expect(summary.interrupt.phase).toBe("tool_running")
  expect(summary.error).toBeUndefined()
  expect(summary.tools).toEqual([expect.objectContaining({ name: "flaky_read", kind: "read", status: "interrupted" })])
  expect(summary.retry.safe).toBe(true)
})
