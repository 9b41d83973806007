/** Retry safety comes from tool side-effect facts and visible output, never from the cause. */
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, expect, test } from "vitest"
import { SCRIPTED_TOOL_WRITE_INPUT } from "../../src/provider/scripted.ts"
import { finishedRun, incidentOf, startRun, startApp, type TestServer, waitFor } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp({ tickMs: 50 })
})
afterEach(async () => {
  await server.close()
})

test("scripted/tool-write interrupted by a reload: the file was really written, retry is not safe", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir, "scripted/tool-write", { waitForOutput: false })
  const file = path.join(dir, SCRIPTED_TOOL_WRITE_INPUT.path)
  // Past the tool: the file exists and the second turn is streaming.
  await waitFor(() => {
    const run = server.running.host.processor.activeRun(sessionId)
    return existsSync(file) && run?.tools[0]?.status === "completed" && run.phase === "provider_streaming"
  })
  expect(readFileSync(file, "utf8")).toBe(SCRIPTED_TOOL_WRITE_INPUT.content)
  await server.call("POST", "/instance/reload", { directory: dir })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.classification).toBe("local_instance_reload")
  expect(summary.tools).toEqual([expect.objectContaining({ name: "write", kind: "write", status: "completed" })])
  expect(summary.interrupt.toolExecutionStarted).toBe(true)
  expect(summary.retry).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
  const chain = await incidentOf(server, sessionId, runId)
  expect(chain.retry).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
  expect(chain.verdict).toBe("diagnosed")
})

test("the same cause with no tool: retry is safe (the cause never decides it)", async () => {
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir)
  await server.call("POST", "/instance/reload", { directory: dir })
  const summary = await finishedRun(server, sessionId, runId)
  expect(summary.retry).toEqual({ safe: true, basis: ["no_side_effects", "visible_output_seen"] })
})
