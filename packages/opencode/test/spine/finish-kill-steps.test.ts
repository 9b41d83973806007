/**
 * A server killed at each step of a finishing run: before `run.finished` is journalled, between
 * that row and the run row's update, and after both. The next start reads each state honestly:
 * a run whose summary the journal holds is that summary (never a crash as well), and a run with
 * none is crash evidence, or the close that an `abort_requested` names. The two writes are one
 * transaction, so a run row update that fails leaves no `run.finished` behind on its own.
 */
import { cpSync, rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { RunSummary } from "../../src/provenance/schemas.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { openDatabase } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { finishedRun, startRun, startApp, tempDir } from "../harness.ts"

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function temp(prefix: string): string {
  const dir = tempDir(prefix)
  dirs.push(dir)
  return dir
}

/** A data dir whose server finished two runs (one closed by a reload, one completed) and then stopped cleanly. */
let source: string
const runs: Record<"reloaded" | "completed", { sessionId: string; runId: string }> = {} as never

beforeAll(async () => {
  source = temp("oc-data-")
  const server = await startApp({ dataDir: source })
  const dir = server.project()
  runs.reloaded = await startRun(server, dir)
  expect((await server.call("POST", "/instance/reload", { directory: dir })).status).toBe(200)
  expect((await finishedRun(server, runs.reloaded.sessionId, runs.reloaded.runId)).classification).toBe(
    "local_instance_reload",
  )
  runs.completed = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
  expect((await finishedRun(server, runs.completed.sessionId, runs.completed.runId)).classification).toBe("completed")
  await server.close()
}, 30_000)

/**
 * A copy of the data dir as a SIGKILL at `step` would have left it: the boot never ended, and the
 * runs' finishing writes stop at that step.
 */
function killedAt(step: "before_run_finished" | "between_journal_and_run_row" | "after_both"): string {
  const dataDir = temp("oc-killed-")
  cpSync(source, dataDir, { recursive: true })
  const db = openDatabase(dataDir)
  // The boot lock file went at the clean close; an unended boot with no lock file is a dead one.
  db.prepare("UPDATE boot SET ended_at = NULL").run()
  const ids = [runs.reloaded.runId, runs.completed.runId]
  if (step !== "after_both")
    db.prepare(`UPDATE run SET finished_at = NULL, summary = NULL, summary_boot = NULL WHERE id IN (?, ?)`).run(...ids)
  if (step === "before_run_finished")
    db.prepare(`DELETE FROM journal WHERE kind = 'run.finished' AND run_id IN (?, ?)`).run(...ids)
  db.close()
  return dataDir
}

async function restarted(dataDir: string) {
  const server = await startApp({ dataDir })
  try {
    const doc = (await server.call("GET", `/session/${runs.reloaded.sessionId}/export?content=diagnostics`)).body
    const other = (await server.call("GET", `/session/${runs.completed.sessionId}/export?content=diagnostics`)).body
    const crashRows = server.running.host.journal.rows({ kinds: ["crash.detected"] }).map((row) => row.runId)
    return {
      reloaded: {
        run: doc.diagnostics.runs.find((r: any) => r.runId === runs.reloaded.runId),
        chain: doc.incidents.find((c: any) => c.runId === runs.reloaded.runId),
        crashes: doc.diagnostics.crashes,
      },
      completed: {
        run: other.diagnostics.runs.find((r: any) => r.runId === runs.completed.runId),
        chain: other.incidents.find((c: any) => c.runId === runs.completed.runId),
        crashes: other.diagnostics.crashes,
      },
      crashRows,
    }
  } finally {
    await server.close()
  }
}

describe("killed at each step of a finishing run", () => {
  test("before run.finished: the closed run reads as its close with run_summary missing; the other is crash evidence", async () => {
    const seen = await restarted(killedAt("before_run_finished"))
    expect(seen.reloaded.chain).toMatchObject({
      classification: "local_instance_reload",
      operation: "reload",
      verdict: "partially_diagnosed",
      missing: ["run_summary"],
    })
    expect(seen.completed.chain).toMatchObject({
      classification: "process_exit_without_finalizer",
      verdict: "crash_evidence",
    })
    expect(seen.crashRows.sort()).toEqual([runs.reloaded.runId, runs.completed.runId].sort())
  })

  test("between run.finished and the run row's update: each run reads as its journalled summary, and no crash is recorded", async () => {
    const seen = await restarted(killedAt("between_journal_and_run_row"))
    expect(seen.reloaded.run).toMatchObject({ classification: "local_instance_reload", missing: [] })
    expect(seen.reloaded.chain).toMatchObject({
      classification: "local_instance_reload",
      operation: "reload",
      verdict: "diagnosed",
      missing: [],
    })
    expect(seen.reloaded.crashes).toEqual([])
    expect(seen.completed.run).toMatchObject({ classification: "completed" })
    expect(seen.completed.chain).toBeUndefined()
    expect(seen.completed.crashes).toEqual([])
    expect(seen.crashRows).toEqual([])
  })

  test("after both: nothing to scan, each run reads as it finished", async () => {
    const seen = await restarted(killedAt("after_both"))
    expect(seen.reloaded.chain).toMatchObject({
      classification: "local_instance_reload",
      verdict: "diagnosed",
      missing: [],
    })
    expect(seen.completed.chain).toBeUndefined()
    expect(seen.crashRows).toEqual([])
  })
})

test("a data dir an older build left with both run.finished and crash.detected reads as the journalled summary", async () => {
  // The older build's scan recorded the crashes, although the journal also held each run's end.
  const dataDir = killedAt("before_run_finished")
  await (await startApp({ dataDir })).close()
  const ids = [runs.reloaded.runId, runs.completed.runId]
  const src = openDatabase(source)
  const ends = src
    .prepare(
      "SELECT time, boot_id, kind, run_id, lifecycle_id, session_id, data FROM journal WHERE kind = 'run.finished' AND run_id IN (?, ?)",
    )
    .all(...ids) as Record<string, unknown>[]
  src.close()
  const db = openDatabase(dataDir)
  expect(db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'crash.detected'").get()).toEqual({ n: 2 })
  for (const end of ends) {
    db.prepare(
      "INSERT INTO journal (seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data) VALUES ((SELECT max(seq) + 1 FROM journal), ?, ?, ?, ?, ?, ?, ?)",
    ).run(end.time, end.boot_id, end.kind, end.run_id, end.lifecycle_id, end.session_id, end.data)
  }
  db.close()
  const seen = await restarted(dataDir)
  expect(seen.reloaded.run).toMatchObject({ classification: "local_instance_reload", missing: [] })
  expect(seen.reloaded.chain).toMatchObject({
    classification: "local_instance_reload",
    verdict: "diagnosed",
    missing: [],
  })
  expect(seen.completed.run).toMatchObject({ classification: "completed" })
  expect(seen.completed.chain).toBeUndefined()
})

describe("run.finished and the run row are one write", () => {
  test("a run row update that fails leaves no run.finished behind", () => {
    const dataDir = temp("oc-finish-tx-")
    const db = openDatabase(dataDir)
    const journal = new Journal(db, "boot_tx")
    const sessions = new SessionStore(db, "boot_tx")
    const session = sessions.createSession({ directory: "/w/a", directoryKey: "/w/a", projectID: "global" })
    sessions.insertRun({
      runId: "run_tx",
      sessionId: session.id,
      directoryKey: "/w/a",
      instanceId: "ins_tx",
      generation: 1,
      model: "scripted/quick",
      bootId: "boot_tx",
      startedAt: 1,
    })
    // The run row refuses its update, as a kill between the two writes would leave it.
    db.exec("CREATE TRIGGER refuse_finish BEFORE UPDATE OF summary ON run BEGIN SELECT RAISE(ABORT, 'refused'); END")
    const summary = RunSummary.parse({
      runId: "run_tx",
      sessionId: session.id,
      seq: journal.nextSeq(),
      startedAt: 1,
      finishedAt: 2,
      classification: "completed",
      provider: { chunks: 1, progress: true },
      watchdog: { fired: false },
      visibleOutput: true,
      tools: [],
      toolFactsRecorded: true,
      retry: { safe: true, basis: ["no_side_effects"] },
    })
    expect(() =>
      journal.appendWith("run.finished", { runId: "run_tx", sessionId: session.id }, summary, () =>
        sessions.finishRun(summary),
      ),
    ).toThrow()
    expect(journal.rows({ kinds: ["run.finished"] })).toEqual([])
    db.exec("DROP TRIGGER refuse_finish")
    journal.appendWith("run.finished", { runId: "run_tx", sessionId: session.id }, summary, () =>
      sessions.finishRun(summary),
    )
    expect(journal.rows({ kinds: ["run.finished"] }).map((row) => row.runId)).toEqual(["run_tx"])
    expect(sessions.unfinishedRuns()).toEqual([])
    db.close()
  })
})
