/**
 * Benchmark 5: the startup crash scan over a journal of 10k runs, in two scenarios, each on a
 * database seeded once and copied before every timed scan (the scan writes its evidence):
 *
 * - `history`: 10k journalled runs, the target's case. A server ran 10k runs to completion
 *   (run.started, visible output, every fifth a tool, run.finished, the summary; a reload every
 *   tenth run, its lifecycle rows and request), then was killed with the last 100 runs active
 *   (a few under a reload that never finished). The scan must find those 100 among the 10k and
 *   write their evidence.
 * - `all_crashed`: the worst case, 10k runs that never finished, owned by a boot that is gone
 *   (every other run showed output, every fifth started a tool; 100 unfinished lifecycle actions
 *   elsewhere). The scan writes evidence for every one of them.
 *
 * In both, the owning boot is gone: its process exited, no lock file, a stale heartbeat.
 */
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync } from "node:fs"
import path from "node:path"
import { newId } from "../packages/opencode/src/id.ts"
import { recordFormat } from "../packages/opencode/src/provenance/node/record-format.ts"
import { scanForCrashes } from "../packages/opencode/src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../packages/opencode/src/session/session-store.ts"
import { openDatabase } from "../packages/opencode/src/storage/database.ts"
import { Journal } from "../packages/opencode/src/storage/journal.ts"
import { median, report, round, tempDir } from "./lib.ts"

const RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 10_000)
const ACTIVE_AT_CRASH = 100
const REPS = 7

// A pid that is certainly gone: a child that has already exited.
const deadPid = spawnSync(process.execPath, ["-e", ""]).pid ?? 999_999

type Scenario = "history" | "all_crashed"

function seed(scenario: Scenario): string {
  const dir = tempDir(`oc-bench-crash-${scenario}-`)
  const db = openDatabase(dir)
  const deadBoot = newId("boot")
  const long = Date.now() - 3_600_000
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES (?, ?, ?, ?, ?)").run(
    deadBoot,
    deadPid,
    long,
    long,
    recordFormat(),
  )
  const journal = new Journal(db, deadBoot)
  const sessions = new SessionStore(db, deadBoot)
  const dirs = Array.from({ length: 10 }, (_, i) => `/tmp/bench-project-${i}`)
  const sessionIds = dirs.flatMap((dir) =>
    Array.from(
      { length: 10 },
      () => sessions.createSession({ directory: dir, directoryKey: dir, projectID: "global" }).id,
    ),
  )
  const lifecycle = (directoryKey: string, at: number, finished: boolean, runIds: string[]) => {
    const lifecycleId = newId("lc")
    const action = {
      lifecycleId,
      seq: journal.nextSeq(),
      operation: "reload",
      rootOperation: "reload",
      rootId: lifecycleId,
      origin: { kind: "server_handler", handler: "bench", provenance: { complete: true, missing: [] } },
      directoryKeys: [directoryKey],
      directoryCount: 1,
      instances: [],
      runIds: [],
      startedAt: at,
    }
    journal.append("lifecycle.started", { lifecycleId }, action, at)
    if (finished)
      journal.append("lifecycle.finished", { lifecycleId }, { ...action, runIds, finishedAt: at + 3 }, at + 3)
  }
  db.transaction(() => {
    if (scenario === "all_crashed")
      for (let i = 0; i < 100; i++) lifecycle(`/tmp/bench-elsewhere-${i}`, long, false, [])
    for (let i = 0; i < RUNS; i++) {
      const runId = newId("run")
      const sessionId = sessionIds[i % sessionIds.length]!
      const dir = dirs[i % dirs.length]!
      const instance = { instanceId: `ins_bench${i % 10}`, generation: 1 }
      const startedAt = long + i * 10
      journal.append(
        "run.started",
        { runId, sessionId },
        { runId, sessionId, instance, model: "scripted/slow", startedAt },
        startedAt,
      )
      sessions.insertRun({
        runId,
        sessionId,
        directoryKey: dir,
        instanceId: instance.instanceId,
        generation: 1,
        model: "scripted/slow",
        bootId: deadBoot,
        startedAt,
      })
      if (i % 2 === 0)
        journal.append("run.visible_output", { runId, sessionId }, { runId, at: startedAt + 5 }, startedAt + 5)
      if (i % 5 === 0)
        journal.append(
          "tool.started",
          { runId, sessionId },
          { runId, callId: `call_${i}`, name: "write", kind: "write", startedAt: startedAt + 6 },
          startedAt + 6,
        )
      const active = scenario === "all_crashed" || i >= RUNS - ACTIVE_AT_CRASH
      if (active) {
        // A reload that began on this run's directory and never finished: the crash cut it short.
        if (scenario === "history" && i === RUNS - 5) lifecycle(dir, startedAt + 7, false, [])
        continue
      }
      if (i % 5 === 0)
        journal.append(
          "tool.finished",
          { runId, sessionId },
          { runId, callId: `call_${i}`, status: "completed" },
          startedAt + 7,
        )
      if (i % 10 === 0) lifecycle(dir, startedAt + 8, true, [runId])
      const summary = {
        runId,
        sessionId,
        seq: journal.nextSeq(),
        instance,
        directoryKey: dir,
        model: "scripted/slow",
        startedAt,
        finishedAt: startedAt + 9,
        classification: "completed",
        provider: { chunks: 3, progress: true },
        watchdog: { fired: false },
        visibleOutput: i % 2 === 0,
        tools: [],
        toolFactsRecorded: true,
        retry: { safe: true, basis: ["completed"] },
        missing: [],
      }
      journal.append("run.finished", { runId, sessionId }, summary, startedAt + 9)
      sessions.finishRun(summary as never)
    }
  })()
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
  return dir
}

function measure(scenario: Scenario) {
  const seedDir = seed(scenario)
  const times: number[] = []
  const cpuTimes: number[] = []
  let evidence = 0
  let possibleCauses = 0
  for (let rep = 0; rep < REPS; rep++) {
    const dir = tempDir("oc-bench-crash-run-")
    mkdirSync(path.join(dir, "boots"), { recursive: true })
    copyFileSync(path.join(seedDir, "opencode.db"), path.join(dir, "opencode.db"))
    const db = openDatabase(dir)
    const bootId = newId("boot")
    const journal = new Journal(db, bootId)
    const sessions = new SessionStore(db, bootId)
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    const found = scanForCrashes({ db, dataDir: dir, journal, sessions })
    times.push(performance.now() - start)
    // The scan is synchronous: the process's CPU time over it is the scan's own work, which
    // other processes competing for the cores inflate far less than the wall time.
    const cpu = process.cpuUsage(cpuStart)
    cpuTimes.push((cpu.user + cpu.system) / 1000)
    evidence = found.length
    possibleCauses = found.filter((crash) => crash.possibleCause).length
    db.close()
  }
  return {
    scenario,
    runs: RUNS,
    evidence,
    possibleCauses,
    ms: round(median(times), 1),
    runsMs: times.map((t) => round(t, 1)),
    cpuMs: round(median(cpuTimes), 1),
    runsCpuMs: cpuTimes.map((t) => round(t, 1)),
  }
}

/**
 * The floor under the worst case: what SQLite alone takes for the scan's own reads and writes,
 * with none of the scan's logic. The rows a scan wrote are read back from one scanned copy, then
 * on fresh copies (one immediate transaction each, as the scan) the same reads are made (the
 * unfinished runs, the journal rows of those runs, their last output) and the same rows written
 * with bare prepared statements: a `crash.detected` journal row and a run update per crashed run.
 */
function floor(scenario: Scenario) {
  const seedDir = seed(scenario)
  const copy = () => {
    const dir = tempDir("oc-bench-crash-floor-")
    copyFileSync(path.join(seedDir, "opencode.db"), path.join(dir, "opencode.db"))
    return openDatabase(dir)
  }
  const scanned = copy()
  const scanDir = tempDir("oc-bench-crash-floor-scan-")
  mkdirSync(path.join(scanDir, "boots"), { recursive: true })
  scanned.close()
  copyFileSync(path.join(seedDir, "opencode.db"), path.join(scanDir, "opencode.db"))
  const db0 = openDatabase(scanDir)
  const bootId = newId("boot")
  scanForCrashes({
    db: db0,
    dataDir: scanDir,
    journal: new Journal(db0, bootId),
    sessions: new SessionStore(db0, bootId),
  })
  const journalRows = db0
    .prepare(
      "SELECT seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data FROM journal WHERE kind = 'crash.detected'",
    )
    .raw()
    .all() as unknown[][]
  const runRows = db0
    .prepare(
      "SELECT finished_at, summary, summary_boot, id FROM run WHERE json_extract(summary, '$.classification') = 'process_exit_without_finalizer'",
    )
    .raw()
    .all() as unknown[][]
  db0.close()
  const times: number[] = []
  const cpuTimes: number[] = []
  for (let rep = 0; rep < REPS; rep++) {
    const db = copy()
    const insert = db.prepare(
      "INSERT INTO journal (seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    const update = db.prepare("UPDATE run SET finished_at = ?, summary = ?, summary_boot = ? WHERE id = ?")
    const unfinished = db.prepare("SELECT * FROM run WHERE finished_at IS NULL")
    const rowsOf = db.prepare(
      `SELECT * FROM journal WHERE run_id IN (SELECT value FROM json_each(?)) AND kind IN ('abort_requested', 'run.visible_output', 'tool.started', 'tool.finished', 'run.finished')`,
    )
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    db.transaction(() => {
      const runs = unfinished.all() as { id: string }[]
      rowsOf.all(JSON.stringify(runs.map((run) => run.id)))
      for (const row of journalRows) insert.run(...row)
      for (const row of runRows) update.run(...row)
    }).immediate()
    times.push(performance.now() - start)
    const cpu = process.cpuUsage(cpuStart)
    cpuTimes.push((cpu.user + cpu.system) / 1000)
    db.close()
  }
  return {
    scenario,
    journalRows: journalRows.length,
    runRows: runRows.length,
    ms: round(median(times), 1),
    runsMs: times.map((t) => round(t, 1)),
    cpuMs: round(median(cpuTimes), 1),
  }
}

report({ history: measure("history"), allCrashed: measure("all_crashed"), allCrashedFloor: floor("all_crashed") })
