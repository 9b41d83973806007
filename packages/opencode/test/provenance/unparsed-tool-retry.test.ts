/**
 * The reader re-derives a run's retry verdict from the tools its file lists. A tool fact it cannot
 * parse (a newer writer's side-effect kind, a longer name) still started: it is judged by its kind
 * when that is a known side effect, else as a tool of unknown kind, and a file's own "not safe" is
 * never read as safe.
 */
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { readExport, type ReadSuccess } from "../../src/provenance/export-reader.ts"
import { SCRIPTED_TOOL_WRITE_INPUT } from "../../src/provider/scripted.ts"
import { finishedRun, startApp, startRun, type TestServer, waitFor } from "../harness.ts"

const fixture = (): any => JSON.parse(readFileSync(new URL("../fixtures/export-v2.json", import.meta.url), "utf8"))

function read(doc: unknown): ReadSuccess {
  const result = readExport(JSON.stringify(doc))
  if (!result.ok) throw new Error(result.error)
  return result
}

const retryOf = (result: ReadSuccess, runId: string) => result.incidents.find((chain) => chain.runId === runId)!.retry

describe("a real export whose write tool a newer writer recorded", () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startApp({ tickMs: 50 })
  })
  afterEach(async () => {
    await server.close()
  })

  test("a side-effect kind this reader does not know never makes the run safe to retry", async () => {
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir, "scripted/tool-write", { waitForOutput: false })
    await waitFor(() => existsSync(path.join(dir, SCRIPTED_TOOL_WRITE_INPUT.path)))
    await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, sessionId, runId)
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    const run = doc.diagnostics.runs.find((r: any) => r.runId === runId)
    expect(run.retry.safe).toBe(false)
    // A newer writer that knows a side-effect kind this build does not ("process" instead of "exec").
    run.tools[0].kind = "process"
    const result = read(doc)
    expect(retryOf(result, runId).safe).toBe(false)
    expect(result.warnings.join(" ")).toContain("1 run(s) list a tool this reader could not read")
  })
})

describe("the fixture's run_reload1, its only tool a read, with a tool fact added", () => {
  const withTool = (tool: Record<string, unknown>, retry?: unknown) => {
    const doc = fixture()
    const run = doc.diagnostics.runs[0]
    run.tools.push({ callId: "call_9", startedAt: 1767228003000, status: "completed", ...tool })
    if (retry !== undefined) run.retry = retry
    doc.incidents = []
    return retryOf(read(doc), "run_reload1")
  }

  test("a write whose name is too long to parse is still a write", () => {
    expect(withTool({ name: "w".repeat(200), kind: "write" })).toEqual({
      safe: false,
      basis: ["side_effect_tool_started", "kind:write"],
    })
  })

  test("an unknown kind is unknown, not safe", () => {
    expect(withTool({ name: "spawn", kind: "process" })).toEqual({
      safe: "unknown",
      basis: ["tool_kind_not_recorded"],
    })
  })

  test("a read whose record does not parse is unknown, not safe", () => {
    expect(withTool({ name: "read", kind: "read", status: "paused" })).toMatchObject({ safe: "unknown" })
  })

  test("a tool that parses keeps the verdict its facts give", () => {
    expect(withTool({ name: "grep", kind: "read" }).safe).toBe(true)
  })

  test("the file's own 'not safe' is never read as safe, whatever its tools say", () => {
    const doc = fixture()
    doc.diagnostics.runs[0].retry = { safe: false, basis: ["side_effect_tool_started", "kind:exec", "free text"] }
    doc.incidents = []
    const result = read(doc)
    expect(retryOf(result, "run_reload1")).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:exec"] })
    expect(result.warnings.join(" ")).toContain("claimed a retry verdict their own tool facts do not support")
  })

  test("the file's own 'unknown' is never read as safe", () => {
    const doc = fixture()
    doc.diagnostics.runs[0].retry = { safe: "unknown", basis: ["tool_facts_not_recorded"] }
    doc.incidents = []
    expect(retryOf(read(doc), "run_reload1")).toEqual({ safe: "unknown", basis: ["tool_facts_not_recorded"] })
  })
})
