/**
 * A run the crash scan found, whose close was journalled (`abort_requested`) before the process
 * died: the server's chain reads it as that close (shutdown, dispose_all), missing run_summary.
 * The banner must not contradict the chain by saying it was "not a reload or close".
 */
import { readExport } from "opencode/provenance/export-reader"
import { CrashEvidence, LifecycleAction } from "opencode/provenance/schemas"
import { expect, it } from "vitest"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { crashScanRow, SESSION, T0 } from "./fixtures.ts"

it("a journalled close that outlived the process: the banner follows the chain, not 'crash, not a close'", () => {
  const shutdown = {
    kind: "shutdown" as const,
    signal: "SIGTERM" as const,
    provenance: { complete: true, missing: [] },
  }
  const root = LifecycleAction.parse({
    lifecycleId: "lc_all1",
    seq: 3,
    operation: "dispose_all",
    rootOperation: "dispose_all",
    rootId: "lc_all1",
    origin: shutdown,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: [],
    runIds: [],
    startedAt: T0 + 3_000,
  })
  const child = LifecycleAction.parse({
    lifecycleId: "lc_dir1",
    seq: 4,
    operation: "dispose_directory",
    rootOperation: "dispose_all",
    rootId: "lc_all1",
    parentId: "lc_all1",
    origin: shutdown,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: [{ instanceId: "ins_a", generation: 1 }],
    runIds: ["run_one"],
    startedAt: T0 + 3_001,
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
  // What the crash scan writes on the run's row (and so what GET /session/:id/run answers).
  const summary = crashScanRow()
  const read = readExport({
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: {
      runs: [summary],
      lifecycle: [root, child],
      requests: [],
      renderer: [],
      crashes: [crash],
      truncated: {},
    },
    incidents: [],
  })
  if (!read.ok) throw new Error(read.error)
  const chain = read.incidents.find((item) => item.runId === "run_one")!
  // The server's chain: the shutdown's close, not a crash.
  expect(chain.verdict).toBe("partially_diagnosed")
  expect(chain.classification).toBe("local_instance_dispose_all")
  expect(chain.origin.kind).toBe("shutdown")

  // The session page passes the run row's classification and the chain (session-view.tsx).
  const text = bannerText({
    classification: summary.classification,
    summary,
    incident: chain,
    isOwnAction: () => false,
  })
  expect(text).not.toContain("not a project reload or close")
  expect(text).toContain("shut down")
})
