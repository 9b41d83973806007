import { cleanup, render, screen } from "@solidjs/testing-library"
import { CrashEvidence, RunSummary } from "opencode/provenance/schemas"
import { afterEach, describe, expect, it } from "vitest"
import type { RunRecord } from "../src/context/shapes.ts"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { CHAIN_STOP_WORDS, classificationWords } from "../src/diagnostics/glossary.ts"
import { endingWords, resendLinks, runHistory } from "../src/diagnostics/run-history.ts"
import { clock, headlineWords, retryAdvice } from "../src/diagnostics/story.ts"
import { exportFor, SESSION, T0 } from "./fixtures.ts"

afterEach(cleanup)

const reloadRequest = {
  requestId: "req_r1",
  route: "/instance/reload",
  method: "POST",
  clientKind: "app" as const,
  actionHeader: "present" as const,
  actionId: "act_mine",
  actionName: "instance.reload",
}

function summary(
  runId: string,
  classification: RunSummary["classification"],
  startedAt: number,
  finishedAt: number,
  extra: Partial<RunSummary> = {},
): RunSummary {
  return RunSummary.parse({
    runId,
    sessionId: SESSION,
    seq: 1,
    startedAt,
    finishedAt,
    classification,
    provider: { chunks: 1, progress: true },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects"] },
    ...extra,
  })
}

const reloaded = summary("run_first", "local_instance_reload", T0, T0 + 9_000, {
  interrupt: {
    kind: "lifecycle",
    seq: 2,
    at: T0 + 9_000,
    runId: "run_first",
    sessionId: SESSION,
    lifecycle: {
      lifecycleId: "lc_1",
      operation: "reload",
      rootOperation: "reload",
      rootId: "lc_1",
      origin: { kind: "api_route", request: reloadRequest, provenance: { complete: true, missing: [] } },
    },
    phase: "provider_streaming",
    provider: { chunks: 1, progress: true },
    watchdog: { fired: false },
    toolExecutionStarted: false,
  },
})

const runs: RunRecord[] = [
  {
    runId: "run_first",
    sessionId: SESSION,
    model: "scripted/slow",
    status: "finished",
    startedAt: T0,
    summary: reloaded,
  },
  {
    runId: "run_second",
    sessionId: SESSION,
    model: "scripted/slow",
    status: "finished",
    startedAt: T0 + 20_000,
    resendOf: "run_first",
    summary: summary("run_second", "completed", T0 + 20_000, T0 + 25_000, { resendOf: "run_first" }),
  },
  { runId: "run_third", sessionId: SESSION, model: "scripted/slow", status: "running", startedAt: T0 + 40_000 },
]

describe("run history", () => {
  it("lists every run newest first, with its start, how long it ran and how it ended in words", () => {
    const rows = runHistory(runs, [], (id) => id === "act_mine")
    expect(rows.map((row) => row.runId)).toEqual(["run_third", "run_second", "run_first"])
    expect(rows.map((row) => row.ending)).toEqual([
      "still running",
      "finished",
      `${classificationWords("local_instance_reload")}: you clicked Reload project`,
    ])
    expect(rows[2]).toMatchObject({ stopped: true, durationMs: 9_000, resentAs: "run_second" })
    expect(rows[1]).toMatchObject({ stopped: false, resendOf: "run_first" })
  })

  it("never calls a click yours when the run's own evidence does not support it", () => {
    expect(endingWords(runs[0]!, undefined, () => false)).toBe(classificationWords("local_instance_reload"))
    // Another run's chain never words this one: its summary's own chain does.
    const another = { runId: "run_other", verdict: "missing_provenance" } as Parameters<typeof endingWords>[1]
    expect(endingWords(runs[0]!, another, (id) => id === "act_mine")).toBe(
      `${classificationWords("local_instance_reload")}: you clicked Reload project`,
    )
    // The app's request with no action id: whose click it was is not recorded, and that is said.
    const { actionId: _dropped, ...anonymous } = reloadRequest
    const interrupt = reloaded.interrupt!
    const unclaimed: RunRecord = {
      ...runs[0]!,
      summary: {
        ...reloaded,
        interrupt: {
          ...interrupt,
          lifecycle: {
            ...interrupt.lifecycle!,
            origin: {
              kind: "api_route",
              request: { ...anonymous, actionHeader: "absent" },
              provenance: { complete: true, missing: [] },
            },
          },
        },
      },
    }
    expect(endingWords(unclaimed, undefined, () => true)).toBe(
      `${classificationWords("local_instance_reload")}; ${CHAIN_STOP_WORDS.partial}`,
    )
  })

  it("links a resend both ways: what it resent, and what the resend became", () => {
    expect(resendLinks("run_second", runs).of).toEqual({
      runId: "run_first",
      words: `A resend of the run stopped at ${clock(T0 + 9_000)}.`,
    })
    expect(resendLinks("run_first", runs).as).toEqual({
      runId: "run_second",
      words: `Resent at ${clock(T0 + 20_000)} → that run finished.`,
      stopped: false,
    })
    const again: RunRecord[] = [
      runs[0]!,
      {
        ...runs[1]!,
        summary: summary("run_second", "local_instance_dispose", T0 + 20_000, T0 + 22_000, { resendOf: "run_first" }),
      },
    ]
    expect(resendLinks("run_first", again).as).toMatchObject({
      words: `Resent at ${clock(T0 + 20_000)} → that run did not finish either: ${classificationWords("local_instance_dispose")}.`,
      stopped: true,
    })
    const running: RunRecord[] = [runs[0]!, { ...runs[1]!, status: "running", summary: undefined }]
    expect(resendLinks("run_first", running).as?.words).toBe(
      `Resent at ${clock(T0 + 20_000)} → that run is still running.`,
    )
    // From the export alone (no live runs): the chain's own link.
    expect(
      resendLinks("run_first", [], { resentAs: { runId: "run_second", classification: "completed" } }).as?.words,
    ).toBe("Resent → that run finished.")
  })
})

describe("the panel explains the run it names, and only that run", () => {
  it("a named run with no incident is said to have none; the other run's story is not shown", () => {
    render(() => (
      <IncidentPanelView
        data={exportData(exportFor("diagnosed"))}
        runId="run_other"
        width={900}
        context={{ lastOutput: "Working on step 9 of 60." }}
      />
    ))
    expect(screen.getByTestId("incident-panel").getAttribute("data-run-id")).toBeNull()
    expect(screen.getByTestId("panel-headline").textContent).toMatch(/^No stop is recorded for this run/)
    expect(screen.queryByTestId("panel-verdict")).toBeNull()
    expect(screen.getByTestId("incident-panel").textContent).not.toContain("step 9")
  })

  it("a running run says so", () => {
    render(() => <IncidentPanelView data={exportData(exportFor("diagnosed"))} runId="run_other" running width={900} />)
    expect(screen.getByTestId("panel-headline").textContent).toBe("This run is still running: nothing has stopped it.")
  })
})

describe("a lost run's story", () => {
  const doc = exportFor("crash_evidence")
  const crash = CrashEvidence.parse({ ...doc.diagnostics.crashes[0], lastOutputAt: T0 + 2_400, tools: [] })
  const data = exportData({ ...doc, diagnostics: { ...doc.diagnostics, crashes: [crash] } })
  const chain = data.read.ok ? data.read.incidents[0]! : undefined

  it("last evidence is the stored output when it came after the heartbeat, and the headline says how far the output got", () => {
    expect(headlineWords(chain!, data.records, {})).toBe(
      `Lost: the server stopped without finishing this run. Last evidence at ${clock(T0 + 2_400)}, 2.4 s into the run (output stored until 2.4 s into the run); what happened after is unknown until the server restarted at ${clock(T0 + 60_000)}.`,
    )
    expect(headlineWords(chain!, data.records, { lastOutput: "Working on step 8 of 60." })).toContain(
      "2.4 s into the run (its output had reached “Working on step 8 of 60.”)",
    )
  })

  it("a lost run's safe resend says what it rests on", () => {
    expect(retryAdvice(chain!, data.records).words).toBe(
      "Safe to resend: no tool that changes anything had started, as far as was recorded before the server stopped. The part of the answer already shown will be written again.",
    )
  })
})
