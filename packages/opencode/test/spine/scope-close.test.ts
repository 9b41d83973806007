/**
 * A run's scope closed without the instance store: `RunState` keeps its controller private and
 * offers one way to stop a run, `abort(request)`, which always puts an `InterruptMeta` on the
 * signal (spine/abort-sites.test.ts keeps every other abort out of src). Should a signal still
 * end up aborted without one, the summary is an honest unknown, never a diagnosis.
 */
import { expect, test } from "vitest"
import { deriveIncidentChains } from "../../src/provenance/incident-chain.ts"
import { InterruptMeta, type LifecycleAction } from "../../src/provenance/schemas.ts"
import { buildRunSummary } from "../../src/session/run-observability/summary.ts"
import { type AbortRequest, RunState } from "../../src/session/run-state.ts"
import { lifecycleAction } from "../provenance/records.ts"

const instance = { instanceId: "ins_a", generation: 1 }
let seq = 0
const newRun = () =>
  new RunState(`run_${++seq}`, "ses_a", instance, "/work/project", "scripted/slow", 1_000, 60_000, () => ++seq)

test("RunState has no way to stop a run but abort(request), and every abort puts an InterruptMeta on the signal", () => {
  expect(
    Object.getOwnPropertyNames(RunState.prototype).filter((name) => /abort|close|cancel|stop/i.test(name)),
  ).toEqual(["abort"])
  const action: LifecycleAction = lifecycleAction("lc_reload1", "reload", { kind: "server_handler", handler: "test" })
  const requests: AbortRequest[] = [
    { kind: "lifecycle", action, closing: instance },
    { kind: "user_cancel" },
    { kind: "watchdog" },
  ]
  for (const request of requests) {
    const run = newRun()
    expect(run.abort(request)).toBe("aborted")
    expect(InterruptMeta.safeParse(run.signal.reason).success, request.kind).toBe(true)
  }
  // An echo is recorded on the run, never a cause: the signal stays as it was.
  const echoed = newRun()
  expect(echoed.abort({ kind: "echo", originKind: "config_invalidation" })).toBe("also_requested")
  expect(echoed.signal.aborted).toBe(false)
})

test("a signal aborted without an InterruptMeta: unknown_interrupt, missing lifecycle_action, closeSite named, missing_provenance", () => {
  const run = newRun()
  // What a direct close would amount to, had anything a way to make one.
  const leaked = Object.create(run, {
    signal: { value: AbortSignal.abort(new Error("closed from outside")) },
  }) as RunState
  const summary = buildRunSummary({ run: leaked, outcome: "aborted", abortedBeforeFinish: true, seq: ++seq })
  expect(summary).toMatchObject({
    classification: "unknown_interrupt",
    missing: ["lifecycle_action"],
    closeSite: "abort_without_interrupt_meta",
  })
  expect(summary.interrupt).toBeUndefined()
  expect(summary.error).toBeUndefined()
  const [chain] = deriveIncidentChains({ runs: [summary], lifecycle: [], requests: [], renderer: [], crashes: [] })
  expect(chain).toMatchObject({
    classification: "unknown_interrupt",
    verdict: "missing_provenance",
    origin: { kind: "unknown", closeSite: "abort_without_interrupt_meta" },
  })
  expect(chain!.missing).toContain("lifecycle_action")
  expect(chain!.links.find((link) => link.hop === "lifecycle")?.status).toBe("missing")
})
