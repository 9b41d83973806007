/**
 * The run history, the run picker and the transcript's stop marker tell the incident chain's
 * story, as the banner does: never the run row's classification when the chain knows more (a
 * crash-scan row whose close was journalled; a placeholder written at the settle timeout), and
 * the row's words alone never claim more than the row records.
 */
import { cleanup, render, screen } from "@solidjs/testing-library"
import { type IncidentChain } from "opencode/provenance"
import { readExport } from "opencode/provenance/export-reader"
import { CrashEvidence, LifecycleAction, RunSummary } from "opencode/provenance/schemas"
import { afterEach, describe, expect, it } from "vitest"
import type { RunRecord } from "../src/context/shapes.ts"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { runHistory, stopMarkerWords } from "../src/diagnostics/run-history.ts"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { crashScanRow, exportFor, SESSION, T0 } from "./fixtures.ts"

afterEach(cleanup)

type Doc = ReturnType<typeof exportFor>
const own = (id: string | undefined) => id === "act_reload1"

/** The phrases that name a cause or a completeness: the banner and every short view have them or lack them together. */
const STORY_PHRASES: readonly RegExp[] = [
  /project reload/i,
  /project close/i,
  /close of every project/i,
  /shut down/i,
  /crash/i,
  /cause unknown|cause not recorded/i,
]
const OVERCLAIMS = [/cause (not recorded|unknown)|nothing recorded/i, /\bcrash\b/i, /record incomplete/i]

function chainOf(doc: Doc): IncidentChain {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  return read.incidents.find((chain) => chain.runId === "run_one")!
}

function recordOf(summary: RunSummary): RunRecord {
  return {
    runId: summary.runId,
    sessionId: SESSION,
    model: "scripted/slow",
    status: "finished",
    startedAt: summary.startedAt,
    summary,
  }
}

/** The picker's label for run_one, as the panel renders it (opened on another run, so the picker shows). */
function pickerLabel(doc: Doc): string {
  render(() => <IncidentPanelView data={exportData(doc)} runId="run_elsewhere" context={{ isOwnAction: own }} />)
  const option = Array.from(screen.getByTestId("incident-select").querySelectorAll("option")).find(
    (item) => item.value === "run_one",
  )
  return option!.textContent!.replace(/^(Started [\d:]+|Run): /, "")
}

/** Every view's words for run_one, from the same records the chain is derived from. */
function views(doc: Doc, row: RunSummary, chain: IncidentChain | undefined) {
  const incidents = chain ? [chain] : []
  const history = runHistory([recordOf(row)], incidents, own)[0]!
  return {
    banner: bannerText({ classification: row.classification, summary: row, incident: chain, isOwnAction: own }),
    history: history.ending,
    stopped: history.stopped,
    marker: stopMarkerWords(row.classification, chain, row),
    picker: chain ? pickerLabel(doc) : undefined,
  }
}

function expectSameStory(words: ReturnType<typeof views>) {
  // What the banner rules out ("not a project reload or close") is not a cause it names.
  const named = words.banner.replace(/not a project reload or close/g, "")
  for (const phrase of STORY_PHRASES) {
    const inBanner = phrase.test(named)
    expect(phrase.test(words.history), `history "${words.history}" vs banner "${words.banner}" on ${phrase}`).toBe(
      inBanner,
    )
    expect(phrase.test(words.marker), `marker "${words.marker}" vs banner "${words.banner}" on ${phrase}`).toBe(
      inBanner,
    )
    if (words.picker !== undefined)
      expect(phrase.test(words.picker), `picker "${words.picker}" vs banner "${words.banner}" on ${phrase}`).toBe(
        inBanner,
      )
  }
  // Incomplete evidence is said wherever the stop is summed up in a sentence.
  if (/partially diagnosed/.test(words.banner)) {
    expect(words.history).toContain("partially diagnosed")
    expect(words.picker ?? "partially diagnosed").toContain("partially diagnosed")
  }
}

/** A server shutdown journalled abort_requested and died before the summary: the crash scan's row, the close's chain. */
function shutdownCase() {
  const shutdown = {
    kind: "shutdown" as const,
    signal: "SIGTERM" as const,
    provenance: { complete: true, missing: [] },
  }
  const base = {
    seq: 3,
    rootOperation: "dispose_all" as const,
    rootId: "lc_all1",
    origin: shutdown,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    startedAt: T0 + 3_000,
  }
  const root = LifecycleAction.parse({
    ...base,
    lifecycleId: "lc_all1",
    operation: "dispose_all",
    instances: [],
    runIds: [],
  })
  const child = LifecycleAction.parse({
    ...base,
    lifecycleId: "lc_dir1",
    seq: 4,
    operation: "dispose_directory",
    parentId: "lc_all1",
    instances: [{ instanceId: "ins_a", generation: 1 }],
    runIds: ["run_one"],
  })
  const crash = CrashEvidence.parse({
    runId: "run_one",
    sessionId: SESSION,
    bootId: "boot_a",
    startedAt: T0,
    lastHeartbeatAt: T0 + 2_000,
    detectedAt: T0 + 60_000,
    abortRequested: { lifecycleId: "lc_dir1", seq: 5 },
    visibleOutput: true,
    tools: [],
  })
  const row = crashScanRow()
  const doc = exportFor("crash_evidence")
  doc.diagnostics.crashes = [crash]
  doc.diagnostics.lifecycle = [root, child]
  doc.diagnostics.runs = [row]
  return { doc, row }
}

/** A run finalised at the settle timeout of the reload this tab clicked: row unknown_interrupt. */
function settleTimeoutCase() {
  const doc = exportFor("diagnosed")
  const row = RunSummary.parse({
    ...doc.diagnostics.runs[0]!,
    classification: "unknown_interrupt",
    missing: ["run_summary"],
    closeSite: "settle_timeout",
  })
  doc.diagnostics.runs[0] = row
  return { doc, row }
}

/** A crash with no journalled close: crash evidence stays crash evidence. */
function plainCrashCase() {
  const doc = exportFor("crash_evidence")
  const row = crashScanRow()
  doc.diagnostics.runs = [row]
  return { doc, row }
}

describe("the run history, the run picker and the stop marker follow the chain", () => {
  it("a shutdown's journalled close outliving the process reads as that close, not a crash", () => {
    const { doc, row } = shutdownCase()
    const chain = chainOf(doc)
    expect(chain).toMatchObject({
      classification: "local_instance_dispose_all",
      verdict: "partially_diagnosed",
      origin: { kind: "shutdown" },
    })
    expect(chain.missing).toContain("run_summary")
    const words = views(doc, row, chain)
    expect(words.banner).toContain("close of every project because the server shut down")
    expect(words.history).toBe("stopped by a close of every project because the server shut down; partially diagnosed")
    expect(words.picker).toBe(words.history)
    expect(words.marker).toBe("close of every project (server shut down)")
    expect(words.stopped).toBe(true)
    for (const text of [words.history, words.marker, words.picker!])
      for (const overclaim of OVERCLAIMS) expect(text).not.toMatch(overclaim)
    expectSameStory(words)
  })

  it("a run finalised at the settle timeout reads as the reload this tab clicked, its record incomplete", () => {
    const { doc, row } = settleTimeoutCase()
    const chain = chainOf(doc)
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(chain.origin.kind).toBe("api_route")
    const words = views(doc, row, chain)
    expect(words.banner).toContain("project reload you requested (Reload project)")
    expect(words.history).toBe("stopped by a project reload: you clicked Reload project; partially diagnosed")
    expect(words.picker).toBe(words.history)
    expect(words.marker).toBe("project reload")
    for (const text of [words.history, words.marker, words.picker!])
      for (const overclaim of OVERCLAIMS) expect(text).not.toMatch(overclaim)
    expectSameStory(words)
  })

  it("a plain crash (no journalled close) stays crash evidence in every view", () => {
    const { doc, row } = plainCrashCase()
    const chain = chainOf(doc)
    expect(chain.verdict).toBe("crash_evidence")
    const words = views(doc, row, chain)
    expect(words.banner).toContain("crash evidence")
    expect(words.history).toBe("lost when the server process ended (crash evidence)")
    expect(words.picker).toBe(words.history)
    expect(words.marker).toBe("server process ended (crash evidence)")
    for (const text of [words.history, words.marker, words.picker!]) expect(text).not.toMatch(/stopped by|close|reload/)
    expectSameStory(words)
  })

  it("a completed run is finished in every view, and has no stop to explain", () => {
    const doc = exportFor("diagnosed")
    const row = RunSummary.parse({ ...doc.diagnostics.runs[0]!, classification: "completed", interrupt: undefined })
    doc.diagnostics.runs[0] = row
    doc.diagnostics.lifecycle = []
    const read = readExport(doc)
    if (!read.ok) throw new Error(read.error)
    expect(read.incidents.find((chain) => chain.runId === "run_one")).toBeUndefined()
    const words = views(doc, row, undefined)
    expect(words.banner).toBe("This run completed.")
    expect(words.history).toBe("finished")
    expect(words.stopped).toBe(false)
    expect(words.marker).toBe("finished")
  })
})

describe("before the chain arrives, the row's words claim no more than the row", () => {
  it("the crash scan's row says the server stopped, neither a crash nor a close", () => {
    const row = crashScanRow()
    const words = views(exportFor("crash_evidence"), row, undefined)
    for (const text of [words.history, words.marker]) {
      expect(text).not.toMatch(/crash|stopped by|close|reload/i)
      expect(text).toMatch(/server stopped/)
    }
  })

  it("a settle-timeout row never says its cause was not recorded", () => {
    const { doc, row } = settleTimeoutCase()
    const words = views(doc, row, undefined)
    for (const text of [words.history, words.marker]) expect(text).not.toMatch(/cause (not recorded|unknown)/i)
  })

  it("a stopped row reads as the chain it derives alone: the same words before the chain arrives and after", () => {
    const diagnosed = exportFor("diagnosed")
    const bare = exportFor("diagnosed")
    bare.diagnostics.runs[0] = RunSummary.parse({ ...bare.diagnostics.runs[0]!, interrupt: undefined })
    bare.diagnostics.lifecycle = []
    const cases = [
      { doc: diagnosed, row: diagnosed.diagnostics.runs[0]! },
      settleTimeoutCase(),
      { doc: bare, row: bare.diagnostics.runs[0]! },
    ]
    for (const { doc, row } of cases) {
      const before = views(doc, row, undefined)
      const after = views(doc, row, chainOf(doc))
      cleanup()
      expect({ history: before.history, marker: before.marker, banner: before.banner }).toEqual({
        history: after.history,
        marker: after.marker,
        banner: after.banner,
      })
    }
    // The bare row (a reload with no interrupt recorded) says what it lacks, never a clean reload.
    expect(views(bare, bare.diagnostics.runs[0]!, undefined).history).not.toBe("stopped by a project reload")
  })

  it("another run's chain never words a run", () => {
    const { doc, row } = shutdownCase()
    const chain = { ...chainOf(doc), runId: "run_other" }
    expect(runHistory([recordOf(row)], [chain], own)[0]!.ending).toBe("lost when the server stopped")
  })
})
