/**
 * A config save through the server (PATCH /config) whose request reference was lost: the origin says
 * `writtenByRoute: true`, so completeness names the request missing ("shows a gap instead of reading
 * as an external edit", schemas.ts). The banner must not call it an edit made outside the app.
 */
import { readExport } from "opencode/provenance/export-reader"
import { LifecycleAction, RunSummary } from "opencode/provenance/schemas"
import { expect, it } from "vitest"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { headlineWords } from "../src/diagnostics/story.ts"
import { exportData } from "../src/diagnostics/export-data.ts"
import { SESSION, T0 } from "./fixtures.ts"

it("a config saved through the server, its request lost, is not 'edited outside the app'", () => {
  const origin = {
    kind: "config_invalidation" as const,
    scope: "project" as const,
    fileKey: "abcdef0123456789",
    change: "modified" as const,
    writtenByRoute: true,
    provenance: { complete: false, missing: ["request"] },
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
  const doc = {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: { runs: [summary], lifecycle: [action], requests: [], renderer: [], crashes: [], truncated: {} },
    incidents: [],
  }
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const chain = read.incidents[0]!
  expect(chain.verdict).toBe("partially_diagnosed")
  expect(chain.missing).toContain("origin.request")
  // The panel's headline gets it right:
  expect(headlineWords(chain, exportData(doc).records)).toContain(
    "was saved through the server, but the request was not recorded",
  )

  // The banner, with the chain and without it (before the incident arrives):
  const withChain = bannerText({
    classification: summary.classification,
    summary,
    incident: chain,
    isOwnAction: () => false,
  })
  const summaryOnly = bannerText({ classification: summary.classification, summary, isOwnAction: () => false })
  expect(withChain).not.toContain("outside the app")
  expect(summaryOnly).not.toContain("outside the app")
})
