/**
 * Each size limit of the spine's records is named once, in schemas.ts: the schemas declare it,
 * and the writers and readers that clamp a record to fit use the same number, so a clamped
 * record always parses and never keeps less than the schema allows.
 */
import { describe, expect, it } from "vitest"
import {
  LifecycleAction,
  MAX_ACTION_FAILURES,
  MAX_ACTION_KEYS,
  MAX_ACTION_RUN_IDS,
  MAX_ALSO_REQUESTED,
  MAX_CLOSE_SITE,
  MAX_MODEL_REF,
  MAX_SUMMARY_TOOLS,
  MAX_TOOL_FIELD,
  RunSummary,
  type ToolFact,
} from "../../src/provenance/schemas.ts"
import { emptyResult, readRuns } from "../../src/provenance/export-formats/common.ts"
import { keptTools } from "../../src/session/run-observability/summary.ts"
import { lifecycleAction, plainRequest, run } from "./records.ts"

const tool = (i: number): ToolFact => ({
  callId: `call_${i}`,
  name: "read",
  kind: "read",
  startedAt: i,
  completedAt: i + 1,
  status: "completed",
})
const tools = (n: number) => Array.from({ length: n }, (_, i) => tool(i))
const also = (n: number) => Array.from({ length: n }, (_, i) => ({ seq: i, at: i, kind: "watchdog" as const }))

describe("the named limits", () => {
  it("are the bounds the schemas declare", () => {
    const base = run("run_limits", { classification: "completed" })
    const accepts = (fields: Record<string, unknown>) => RunSummary.safeParse({ ...base, ...fields }).success
    expect([accepts({ tools: tools(MAX_SUMMARY_TOOLS) }), accepts({ tools: tools(MAX_SUMMARY_TOOLS + 1) })]).toEqual([
      true,
      false,
    ])
    expect([accepts({ model: "m".repeat(MAX_MODEL_REF) }), accepts({ model: "m".repeat(MAX_MODEL_REF + 1) })]).toEqual([
      true,
      false,
    ])
    expect([
      accepts({ alsoRequestedBy: also(MAX_ALSO_REQUESTED) }),
      accepts({ alsoRequestedBy: also(MAX_ALSO_REQUESTED + 1) }),
    ]).toEqual([true, false])
    expect([
      accepts({ closeSite: "s".repeat(MAX_CLOSE_SITE) }),
      accepts({ closeSite: "s".repeat(MAX_CLOSE_SITE + 1) }),
    ]).toEqual([true, false])
    const longName = { ...tool(0), name: "n".repeat(MAX_TOOL_FIELD + 1) }
    expect([
      accepts({ tools: [{ ...tool(0), name: "n".repeat(MAX_TOOL_FIELD) }] }),
      accepts({ tools: [longName] }),
    ]).toEqual([true, false])

    const action = lifecycleAction("lc_limits", "reload", { kind: "api_route", request: plainRequest() })
    const acceptsAction = (fields: Record<string, unknown>) =>
      LifecycleAction.safeParse({ ...action, ...fields }).success
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `/work/p${i}`)
    const runIds = (n: number) => Array.from({ length: n }, (_, i) => `run_${i}`)
    const failures = (n: number) =>
      Array.from({ length: n }, () => ({ step: "abort" as const, code: "x", class: "Error" }))
    expect([
      acceptsAction({ directoryKeys: keys(MAX_ACTION_KEYS) }),
      acceptsAction({ directoryKeys: keys(MAX_ACTION_KEYS + 1) }),
    ]).toEqual([true, false])
    expect([
      acceptsAction({ runIds: runIds(MAX_ACTION_RUN_IDS) }),
      acceptsAction({ runIds: runIds(MAX_ACTION_RUN_IDS + 1) }),
    ]).toEqual([true, false])
    expect([
      acceptsAction({ failed: failures(MAX_ACTION_FAILURES) }),
      acceptsAction({ failed: failures(MAX_ACTION_FAILURES + 1) }),
    ]).toEqual([true, false])
  })

  it("are what a summary keeps of a run with more tools than fit", () => {
    const kept = keptTools(tools(MAX_SUMMARY_TOOLS + 6))
    expect(kept.tools).toHaveLength(MAX_SUMMARY_TOOLS)
    expect(kept.toolsDropped).toBe(6)
  })

  it("are what the export reader keeps of a file's oversized run", () => {
    const raw = {
      ...run("run_big", { classification: "completed" }),
      tools: tools(MAX_SUMMARY_TOOLS + 3),
      alsoRequestedBy: also(MAX_ALSO_REQUESTED + 3),
    }
    const [read] = readRuns([raw], emptyResult("v2", []))
    expect(read?.tools).toHaveLength(MAX_SUMMARY_TOOLS)
    expect(read?.alsoRequestedBy).toHaveLength(MAX_ALSO_REQUESTED)
  })
})
