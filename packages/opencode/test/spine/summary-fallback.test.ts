/**
 * `settled` always ends in a written summary: when building a run's summary throws, the run is
 * still finished with a fallback that names the missing summary and where it was lost, the
 * session goes idle, and no rejection escapes (one would end `serve`).
 */
import { afterAll, afterEach, beforeAll, expect, test, vi } from "vitest"
import { finishedRun, startApp, waitFor, type TestServer } from "../harness.ts"

const failures = vi.hoisted(() => ({ build: 0, fallback: 0 }))

vi.mock("../../src/session/run-observability/summary.ts", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../src/session/run-observability/summary.ts")>()
  return {
    ...actual,
    buildRunSummary: (...args: Parameters<typeof actual.buildRunSummary>) => {
      if (failures.build > 0) {
        failures.build--
        throw new Error("summary build failed for PROMPT-CANARY")
      }
      return actual.buildRunSummary(...args)
    },
    fallbackRunSummary: (...args: Parameters<typeof actual.fallbackRunSummary>) => {
      if (failures.fallback > 0) {
        failures.fallback--
        throw new Error("fallback failed too")
      }
      return actual.fallbackRunSummary(...args)
    },
  }
})

let server: TestServer
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled)
  server = await startApp()
})
afterAll(async () => {
  await server?.close()
  process.off("unhandledRejection", onUnhandled)
})
afterEach(() => {
  failures.build = 0
  failures.fallback = 0
  expect(unhandled).toEqual([])
})

async function prompt(
  route: "prompt" | "message",
): Promise<{ directory: string; sessionId: string; runId?: string; status: number }> {
  const directory = server.project()
  const session = await server.call("POST", "/session", { directory, body: {} })
  const res = await server.call("POST", `/session/${session.body.id}/${route}`, {
    directory,
    body: { text: "go", model: "scripted/quick" },
  })
  return { directory, sessionId: session.body.id, runId: res.body?.runId, status: res.status }
}

test("a summary that cannot be built is replaced by a fallback; the run is finished and the session idle", async () => {
  failures.build = 1
  const { directory, sessionId, runId } = await prompt("prompt")
  const summary = await finishedRun(server, sessionId, runId!)
  expect(summary).toMatchObject({
    classification: "unknown_interrupt",
    closeSite: "summary_build_failed",
    missing: ["run_summary"],
    runId,
  })
  const runs = await server.call("GET", `/session/${sessionId}/run`)
  expect(runs.body[0].status).not.toBe("running")
  await waitFor(async () => (await server.call("GET", "/session/status", { directory })).body[sessionId] === undefined)
  expect((await server.call("GET", `/session/${sessionId}`)).body.lastRun).toMatchObject({
    status: runs.body[0].status,
    classification: "unknown_interrupt",
  })
  // The server still serves runs afterwards.
  const next = await prompt("prompt")
  expect((await finishedRun(server, next.sessionId, next.runId!)).classification).toBe("completed")
})

test("when even the fallback fails inside the run, settling writes one and the waiting route still answers", async () => {
  failures.build = 1
  failures.fallback = 1
  const { sessionId, status } = await prompt("message")
  expect(status).toBe(200)
  const runs = await server.call("GET", `/session/${sessionId}/run`)
  expect(runs.body).toHaveLength(1)
  expect(runs.body[0].summary).toMatchObject({
    classification: "unknown_interrupt",
    closeSite: "run_failed_unhandled",
    missing: ["run_summary"],
  })
  // Exactly one run.finished row for the run.
  const rows = server.running.host.db
    .prepare("SELECT count(*) AS n FROM journal WHERE run_id = ? AND kind = 'run.finished'")
    .get(runs.body[0].runId) as { n: number }
  expect(rows.n).toBe(1)
})
