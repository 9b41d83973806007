/**
 * A run's summary is built by clamping, never by a parse that can throw: a run with more tool
 * calls than the summary keeps, or a model ref longer than it holds, still ends in a written
 * summary (lists capped, the dropped counted, strings cut) and the server keeps serving. The
 * prompt route refuses a model ref the summary could not hold, naming the field.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest"
import { buildRunSummary } from "../../src/session/run-observability/summary.ts"
import { RunState } from "../../src/session/run-state.ts"
import { RunSummary, type ToolFact } from "../../src/provenance/schemas.ts"
import { sendEvent, startEventStream, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"
import { finishedRun, startApp, type TestServer } from "../harness.ts"

const TOOL_CALLS = 70

function runWith(tools: ToolFact[], model = "scripted/quick"): RunState {
  const run = new RunState(
    "run_clamp1",
    "ses_clamp1",
    { instanceId: "ins_a", generation: 1 },
    "/w/a",
    model,
    1000,
    60_000,
    () => 1,
  )
  run.tools.push(...tools)
  return run
}

const fact = (i: number, kind: ToolFact["kind"] = "read"): ToolFact => ({
  callId: `call_${i}`,
  name: kind === "read" ? "list" : "write",
  kind,
  startedAt: 1000 + i,
  completedAt: 1001 + i,
  status: "completed",
})

describe("buildRunSummary clamps what the summary cannot hold", () => {
  test("more than 64 tools: 64 kept, the rest counted, and a dropped side effect still decides retry", () => {
    const tools = Array.from({ length: TOOL_CALLS - 1 }, (_, i) => fact(i))
    tools.push(fact(TOOL_CALLS - 1, "write"))
    const summary = buildRunSummary({
      run: runWith(tools),
      outcome: "completed",
      abortedBeforeFinish: false,
      seq: 5,
      finishedAt: 2000,
    })
    expect(RunSummary.safeParse(summary).success).toBe(true)
    expect(summary.tools).toHaveLength(64)
    expect(summary.toolsDropped).toBe(TOOL_CALLS - 64)
    // The side-effecting tool is kept over a read, and the verdict is judged from every tool.
    expect(summary.tools.map((tool) => tool.kind)).toContain("write")
    expect(summary.retry).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
    // Kept tools stay in the order they ran.
    const started = summary.tools.map((tool) => tool.startedAt)
    expect(started).toEqual([...started].sort((a, b) => a - b))
  })

  test("64 tools or fewer: nothing dropped, no count", () => {
    const summary = buildRunSummary({
      run: runWith(Array.from({ length: 64 }, (_, i) => fact(i))),
      outcome: "completed",
      abortedBeforeFinish: false,
      seq: 5,
    })
    expect(summary.tools).toHaveLength(64)
    expect(summary.toolsDropped).toBeUndefined()
  })

  test("a model ref longer than 128 characters is cut, visibly", () => {
    const model = `openai/${"m".repeat(200)}`
    const summary = buildRunSummary({
      run: runWith([], model),
      outcome: "completed",
      abortedBeforeFinish: false,
      seq: 5,
    })
    expect(summary.model!.length).toBeLessThanOrEqual(128)
    expect(summary.model!.startsWith("openai/mmm")).toBe(true)
    expect(summary.model!.endsWith("…")).toBe(true)
  })
})

describe("over the wire", () => {
  let fake: FakeOpenAI
  let server: TestServer
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled)
    fake = await startFakeOpenAI({
      // One turn asking for many tools (a write last), then a plain answer.
      manytools: (body, _req, res) => {
        startEventStream(res)
        if (body.messages.at(-1)?.role === "tool") {
          sendEvent(res, textChunk("done", "stop"))
        } else {
          const calls = Array.from({ length: TOOL_CALLS }, (_, i) =>
            i === TOOL_CALLS - 1
              ? {
                  index: i,
                  id: `call_${i}`,
                  function: { name: "write", arguments: JSON.stringify({ path: "many.txt", content: "x" }) },
                }
              : { index: i, id: `call_${i}`, function: { name: "list", arguments: "{}" } },
          )
          sendEvent(res, { choices: [{ index: 0, delta: { tool_calls: calls }, finish_reason: "tool_calls" }] })
        }
        sendEvent(res, "[DONE]")
        res.end()
      },
    })
    server = await startApp({ env: { OPENAI_BASE_URL: fake.baseUrl } })
  })

  afterAll(async () => {
    await server?.close()
    await fake?.close()
    process.off("unhandledRejection", onUnhandled)
  })

  afterEach(() => {
    expect(unhandled).toEqual([])
  })

  test("a run with 70 tool calls ends in a written, clamped summary and the server keeps serving", async () => {
    const directory = server.project()
    const session = await server.call("POST", "/session", { directory, body: {} })
    const prompt = await server.call("POST", `/session/${session.body.id}/prompt`, {
      directory,
      body: { text: "go", model: "openai/manytools" },
    })
    expect(prompt.status).toBe(200)
    const summary = await finishedRun(server, session.body.id, prompt.body.runId)
    expect(summary.classification).toBe("completed")
    expect(summary.tools).toHaveLength(64)
    expect(summary.toolsDropped).toBe(TOOL_CALLS - 64)
    expect(summary.retry.safe).toBe(false)
    const runs = await server.call("GET", `/session/${session.body.id}/run`)
    expect(runs.body.find((run: any) => run.runId === prompt.body.runId).status).not.toBe("running")
    expect((await server.call("GET", "/health")).status).toBe(200)
  })

  test.each([
    ["a string ref", `openai/${"m".repeat(128)}`],
    ["an object ref", { providerID: "openai", modelID: "m".repeat(128) }],
  ])("a model ref longer than a summary holds (%s) is a 400 naming the field", async (_name, model) => {
    const directory = server.project()
    const session = await server.call("POST", "/session", { directory, body: {} })
    const prompt = await server.call("POST", `/session/${session.body.id}/prompt`, {
      directory,
      body: { text: "go", model },
    })
    expect(prompt.status).toBe(400)
    expect(prompt.body.error.message).toMatch(/model/)
    expect((await server.call("GET", `/session/${session.body.id}/run`)).body).toEqual([])
  })

  test("the longest model ref the route accepts is one a summary holds", async () => {
    const directory = server.project()
    const session = await server.call("POST", "/session", { directory, body: {} })
    const model = { providerID: "openai", modelID: "m".repeat(128 - "openai/".length) }
    const prompt = await server.call("POST", `/session/${session.body.id}/prompt`, {
      directory,
      body: { text: "go", model },
    })
    expect(prompt.status).toBe(200)
    // The fake server knows no such model: a provider error, summarized with the full ref.
    const summary = await finishedRun(server, session.body.id, prompt.body.runId)
    expect(summary.classification).toBe("provider_error")
    expect(summary.model).toBe(`openai/${model.modelID}`)
  })
})
