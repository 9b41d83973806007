/**
 * The startup crash scan, in process, on a journal with history: only runs left unfinished by a
 * boot that is gone become crash evidence, and a `possibleCause` is named only by an action that
 * never finished, on the run's directory, begun after the run. Finished actions, actions on other
 * directories and actions older than the run are history, not causes.
 */
import { rmSync } from "node:fs"
import { afterEach, expect, test } from "vitest"
import { scanForCrashes } from "../../src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { openDatabase } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

test("history is skipped; the cause candidate is the unfinished action on the run's directory begun after it", () => {
  const dataDir = tempDir("oc-crashscan-")
  dirs.push(dataDir)
  const db = openDatabase(dataDir)
  const long = Date.now() - 3_600_000
  // A boot that is gone: no lock file, stale heartbeat, a pid that cannot be ours.
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES ('boot_gone', 2147483646, ?, ?)").run(long, long)
  const dead = new Journal(db, "boot_gone")
  const deadSessions = new SessionStore(db, "boot_gone")
  const session = deadSessions.createSession({ directory: "/w/a", directoryKey: "/w/a", projectID: "global" })
  const action = (lifecycleId: string, directoryKey: string, startedAt: number, finished: boolean) => {
    const record = {
      lifecycleId,
      seq: dead.nextSeq(),
      operation: "dispose",
      rootOperation: "dispose",
      rootId: lifecycleId,
      origin: { kind: "server_handler", handler: "test", provenance: { complete: true, missing: [] } },
      directoryKeys: [directoryKey],
      directoryCount: 1,
      instances: [],
      runIds: [],
      startedAt,
    }
    dead.append("lifecycle.started", { lifecycleId }, record)
    if (finished) dead.append("lifecycle.finished", { lifecycleId }, { ...record, finishedAt: startedAt + 1 })
  }
  const startRun = (runId: string, directoryKey: string, startedAt: number) => {
    dead.append("run.started", { runId, sessionId: session.id }, { runId, sessionId: session.id, startedAt })
    deadSessions.insertRun({
      runId,
      sessionId: session.id,
      directoryKey,
      instanceId: "ins_a",
      generation: 1,
      model: "scripted/slow",
      bootId: "boot_gone",
      startedAt,
    })
  }
  // History: 50 finished runs, each with a finished dispose on its directory after it started.
  for (let i = 0; i < 50; i++) {
    const runId = `run_done${i}`
    startRun(runId, "/w/a", long + i)
    action(`lc_done${i}`, "/w/a", long + i + 1, true)
    deadSessions.finishRun({
      runId,
      sessionId: session.id,
      seq: dead.nextSeq(),
      instance: { instanceId: "ins_a", generation: 1 },
      directoryKey: "/w/a",
      model: "scripted/slow",
      startedAt: long + i,
      finishedAt: long + i + 2,
      classification: "completed",
      provider: { chunks: 1, progress: true },
      watchdog: { fired: false },
      visibleOutput: true,
      tools: [],
      toolFactsRecorded: true,
      retry: { safe: true, basis: ["completed"] },
      missing: [],
    } as never)
  }
  // Active at the crash: one run on /w/a, one on /w/b.
  startRun("run_a", "/w/a", long + 100)
  startRun("run_b", "/w/b", long + 100)
  action("lc_older_b", "/w/b", long + 50, false) // unfinished, but older than run_b
  action("lc_other", "/w/c", long + 150, false) // unfinished, another directory
  action("lc_finished_late", "/w/a", long + 120, true) // after run_a, on /w/a, but it finished
  action("lc_cut", "/w/a", long + 150, false) // unfinished, on /w/a, after run_a started: the candidate

  const journal = new Journal(db, "boot_now")
  const found = scanForCrashes({ db, dataDir, journal, sessions: new SessionStore(db, "boot_now") })
  expect(found.map((crash) => [crash.runId, crash.possibleCause?.lifecycleId]).sort()).toEqual([
    ["run_a", "lc_cut"],
    ["run_b", undefined],
  ])
  // Both now have a summary, written by this boot; history is untouched.
  const rows = db
    .prepare("SELECT id, summary_boot AS by FROM run WHERE id IN ('run_a', 'run_b', 'run_done0') ORDER BY id")
    .all()
  expect(rows).toEqual([
    { id: "run_a", by: "boot_now" },
    { id: "run_b", by: "boot_now" },
    { id: "run_done0", by: "boot_gone" },
  ])
  db.close()
})
