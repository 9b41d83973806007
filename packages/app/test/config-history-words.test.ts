/**
 * The panel's event history and waterfall name who changed the config. They must agree with the
 * origin: a PATCH /config from another program is not "saved from the app", and a save through the
 * server (request known, or `writtenByRoute`) is not "edited on disk" / "outside the app".
 */
import { readExport } from "opencode/provenance/export-reader"
import { LifecycleAction, RequestContext, RunSummary } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { eventHistory, headlineWords } from "../src/diagnostics/story.ts"
import { buildWaterfall } from "../src/diagnostics/waterfall.ts"
import { SESSION, T0 } from "./fixtures.ts"

type Req = {
  requestId: string
  route: string
  method: string
  clientKind: "app" | "plain"
  actionHeader: "present" | "absent"
  actionId?: string
  actionName?: string
}

function configExport(opts: { request?: Req; writtenByRoute?: boolean; keepRequestRecord: boolean }) {
  const origin = {
    kind: "config_invalidation" as const,
    scope: "project" as const,
    fileKey: "abcdef0123456789",
    change: "modified" as const,
    ...(opts.request ? { request: opts.request } : {}),
    ...(opts.writtenByRoute ? { writtenByRoute: true } : {}),
    provenance:
      opts.request || !opts.writtenByRoute
        ? { complete: true, missing: [] }
        : { complete: false, missing: ["request"] },
  }
  const action = LifecycleAction.parse({
    lifecycleId: "lc_cfg1",
    seq: 3,
    operation: "dispose_directory",
    rootOperation: "dispose_directory",
    rootId: "lc_cfg1",
    origin,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: [{ instanceId: "ins_a", generation: 1 }],
    runIds: ["run_one"],
    startedAt: T0 + 3_500,
    finishedAt: T0 + 4_100,
  })
  const summary = RunSummary.parse({
    runId: "run_one",
    sessionId: SESSION,
    seq: 5,
    instance: { instanceId: "ins_a", generation: 1 },
    model: "scripted/slow",
    startedAt: T0,
    finishedAt: T0 + 4_000,
    classification: "local_instance_dispose_directory",
    interrupt: {
      kind: "lifecycle",
      seq: 4,
      at: T0 + 3_600,
      runId: "run_one",
      sessionId: SESSION,
      lifecycle: {
        lifecycleId: "lc_cfg1",
        operation: "dispose_directory",
        rootOperation: "dispose_directory",
        rootId: "lc_cfg1",
        origin,
      },
      phase: "provider_streaming",
      provider: { chunks: 4, progress: true },
      watchdog: { fired: false },
      toolExecutionStarted: false,
    },
    provider: { chunks: 4, progress: true, firstOutputAt: T0 + 200, lastOutputAt: T0 + 3_000 },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
  })
  const requests =
    opts.request && opts.keepRequestRecord
      ? [RequestContext.parse({ ...opts.request, seq: 2, time: T0 + 3_450, status: 200, durationMs: 40 })]
      : []
  const doc = {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: { runs: [summary], lifecycle: [action], requests, renderer: [], crashes: [], truncated: {} },
    incidents: [],
  }
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const data = exportData(doc)
  const chain = read.incidents[0]!
  return {
    chain,
    headline: headlineWords(chain, data.records),
    history: eventHistory(chain, data.records).map((item) => item.words),
    rows: buildWaterfall(chain, data.records, {}).rows.map((row) => row.name),
  }
}

describe("who changed the config, in the event history and the waterfall", () => {
  it("a PATCH /config from another program (not the app) is not 'saved from the app'", () => {
    const story = configExport({
      request: {
        requestId: "req_cfg1",
        route: "/config",
        method: "PATCH",
        clientKind: "plain",
        actionHeader: "absent",
      },
      writtenByRoute: true,
      keepRequestRecord: true,
    })
    expect(story.chain.verdict).toBe("diagnosed")
    expect(story.headline).toContain("was saved through the server")
    expect(story.history.join(" | ")).not.toContain("saved from the app")
  })

  it("Save config in the app whose request row is no longer kept is not 'edited on disk'", () => {
    const story = configExport({
      request: {
        requestId: "req_cfg1",
        route: "/config",
        method: "PUT",
        clientKind: "app",
        actionHeader: "present",
        actionId: "act_save1",
        actionName: "config.save",
      },
      writtenByRoute: true,
      keepRequestRecord: false,
    })
    expect(story.chain.verdict).toBe("diagnosed")
    expect(story.history.join(" | ")).not.toContain("edited on disk")
  })

  it("a save through the server whose request was lost is not 'edited outside the app' in the waterfall", () => {
    const story = configExport({ writtenByRoute: true, keepRequestRecord: false })
    expect(story.chain.verdict).toBe("partially_diagnosed")
    expect(story.headline).toContain("saved through the server, but the request was not recorded")
    // The timeline draws the gap the chain names (it does for an api_route's lost request) ...
    expect(story.chain.missing).toContain("origin.request")
    expect(story.rows).toContain("Not recorded: the request that asked for it")
    // ... and does not call the save an outside edit.
    expect(story.rows.join(" | ")).not.toContain("outside the app")
    expect(story.history.join(" | ")).not.toContain("edited on disk")
  })
})
