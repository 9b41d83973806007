/**
 * What a capped list keeps first: every record an incident chain, or a reader re-deriving it,
 * depends on. A file read back (explain, the app) re-derives chains from the records the lists
 * kept; a record a chain needs that the cap dropped made the reader name another cause:
 * - a completed run whose old crash evidence was kept while its summary was capped away read as a
 *   crash the server never reported;
 * - a close killed before it finished (its `runIds` still empty) that a crash's `abortRequested`
 *   names was ranked as unlinked and dropped, so the crash read as having no recorded cause.
 * Each export is checked both ways it is written (streamed and built whole) and read back.
 */
import { execFile } from "node:child_process"
import { rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { promisify } from "node:util"
import { afterEach, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { readExport } from "../../src/provenance/export-reader.ts"
import { buildSessionExport, sessionExportText } from "../../src/session/export.ts"
import { BIN, tempDir } from "../harness.ts"
import { crash, interruptedRun, lifecycleAction, plainRequest, run } from "../provenance/records.ts"
import { insertRun, insertSession } from "./stored-records.ts"

const hosts: { host: Host; dataDir: string }[] = []
afterEach(() => {
  for (const { host, dataDir } of hosts.splice(0)) {
    host.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

function sessionHost(): Host {
  const dataDir = tempDir("oc-capped-links-")
  const host = createHost({ dataDir, readOnly: true })
  hosts.push({ host, dataDir })
  insertSession(host.db, "ses_one")
  return host
}

/** The export at `cap`, streamed; it must be the built document's text, whatever the page size. */
function exported(host: Host, cap: number) {
  const built = JSON.stringify(buildSessionExport(host, "ses_one", "diagnostics", cap))
  for (const runPage of [1, 2, 64]) {
    const streamed = [...sessionExportText(host, "ses_one", "diagnostics", { cap, runPage })!].join("")
    expect(streamed.replace(/"exportedAt":\d+/, "")).toBe(built.replace(/"exportedAt":\d+/, ""))
  }
  return JSON.parse(built)
}

/** The chains a reader derives from the file, as (run, classification, verdict). */
function readBack(doc: unknown) {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  return { chains: read.incidents.map((c) => [c.runId, c.classification, c.verdict]), warnings: read.warnings }
}

test("a completed run's summary is kept with its old crash evidence: the reader does not make it a crash", () => {
  const host = sessionHost()
  // run_old completed (its finalizer ran), yet an older build's crash scan left evidence for it.
  insertRun(
    host.sessions,
    "run_old",
    1_000,
    run("run_old", { seq: 5, startedAt: 1_000, finishedAt: 1_050, classification: "completed" }),
  )
  host.journal.append("crash.detected", { runId: "run_old", sessionId: "ses_one" }, crash("run_old"))
  for (let i = 0; i < 4; i++)
    insertRun(
      host.sessions,
      `run_new${i}`,
      2_000 + i,
      run(`run_new${i}`, { seq: 10 + i, startedAt: 2_000 + i, finishedAt: 2_050 + i, classification: "completed" }),
    )
  const doc = exported(host, 3)
  expect(doc.incidents).toEqual([])
  expect(doc.diagnostics.truncated.runs).toEqual({ kept: 3, dropped: 2 })
  expect(doc.diagnostics.runs.map((r: { runId: string }) => r.runId)).toContain("run_old")
  expect(readBack(doc).chains).toEqual([])
})

/** A shutdown that journalled its close and an abort_requested for run_lost, then was killed before it finished: only its lifecycle.started row, its runIds still empty. */
function killedShutdown(host: Host) {
  const shutdown = lifecycleAction("lc_shut", "dispose_all", { kind: "shutdown", signal: "SIGTERM" }, { seq: 5 })
  host.journal.append("lifecycle.started", { lifecycleId: "lc_shut" }, shutdown)
  host.journal.append(
    "crash.detected",
    { runId: "run_lost", sessionId: "ses_one" },
    crash("run_lost", { abortRequested: { lifecycleId: "lc_shut", seq: 6 } }),
  )
}

/** Runs stopped by reloads of their own, later than the shutdown. */
function reloadedRuns(host: Host, ids: string[]) {
  ids.forEach((runId, i) => {
    const action = lifecycleAction(
      `lc_${runId}`,
      "reload",
      { kind: "api_route", request: plainRequest({ requestId: `req_${runId}`, route: "/instance/reload" }) },
      { runIds: [runId], seq: 100 + 10 * i },
    )
    host.journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
    insertRun(
      host.sessions,
      runId,
      5_000 + i,
      interruptedRun(runId, action, { seq: 101 + 10 * i, startedAt: 5_000 + i, finishedAt: 6_000 + i }),
    )
  })
}

test("a close a crash's abort_requested names is linked: the lifecycle cap keeps it before a later action no chain needs", () => {
  const host = sessionHost()
  killedShutdown(host)
  reloadedRuns(host, ["run_r0"])
  // A later action no chain needs: the possible cause on a completed run's stale crash evidence.
  host.journal.append(
    "lifecycle.started",
    { lifecycleId: "lc_idle" },
    lifecycleAction("lc_idle", "reload", { kind: "shutdown", signal: "SIGTERM" }, { seq: 300 }),
  )
  insertRun(
    host.sessions,
    "run_done",
    7_000,
    run("run_done", { seq: 301, startedAt: 7_000, finishedAt: 7_050, classification: "completed" }),
  )
  host.journal.append(
    "crash.detected",
    { runId: "run_done", sessionId: "ses_one" },
    crash("run_done", { possibleCause: { lifecycleId: "lc_idle", operation: "reload" } }),
  )
  const doc = exported(host, 2)
  const written = doc.incidents.find((c: { runId: string }) => c.runId === "run_lost")
  expect(written).toMatchObject({ classification: "local_instance_dispose_all", lifecycleId: "lc_shut" })
  expect(doc.diagnostics.lifecycle.map((a: { lifecycleId: string }) => a.lifecycleId)).toEqual(["lc_shut", "lc_run_r0"])
  const read = readBack(doc)
  expect(read.chains).toContainEqual(["run_lost", written.classification, written.verdict])
  expect(read.warnings.join(" ")).not.toMatch(/disagree/)
})

test("when even the linked records overflow a cap, the reader shows the writer's claim re-checked, not a chain derived from what the cap left", async () => {
  const host = sessionHost()
  killedShutdown(host)
  reloadedRuns(host, ["run_r0", "run_r1", "run_r2"])
  const doc = exported(host, 2)
  const written = doc.incidents.find((c: { runId: string }) => c.runId === "run_lost")
  expect(written).toMatchObject({ classification: "local_instance_dispose_all", lifecycleId: "lc_shut" })
  // Four linked actions, two kept: the shutdown is not among them.
  expect(doc.diagnostics.lifecycle.map((a: { lifecycleId: string }) => a.lifecycleId)).toEqual([
    "lc_run_r1",
    "lc_run_r2",
  ])
  const read = readBack(doc)
  // Once each, as the server derived it: never the "no recorded cause" the kept records alone give.
  expect(read.chains.filter(([runId]) => runId === "run_lost")).toEqual([
    ["run_lost", written.classification, written.verdict],
  ])
  expect(read.warnings.join(" ")).toMatch(/run run_lost: its records left in the file \(some were capped away\)/)

  // `opencode explain` reads the claims in passes (it never holds them all): the same chains, each
  // counted and written once.
  const file = path.join(tempDir("oc-capped-explain-"), "export.json")
  writeFileSync(file, JSON.stringify(doc))
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, "explain", file])
  const blocks = stdout.match(/^\d+\. Run \S+ in session/gm) ?? []
  expect(stdout).toContain(`${blocks.length} stopped run(s):`)
  expect(blocks.length).toBe(read.chains.length)
  expect(stdout.match(/^\d+\. Run run_lost in session.*\[local_instance_dispose_all\]\.$/gm)).toHaveLength(1)
  rmSync(path.dirname(file), { recursive: true, force: true })
})
