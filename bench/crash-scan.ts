/**
 * Benchmark 5: the startup crash scan over 10k journalled runs that never finished, owned by a
 * boot that is gone (its process exited, no lock file, stale heartbeat). Each run has its
 * `run.started` row; every other run showed output and every fifth started a tool; 100
 * unfinished lifecycle actions sit on other directories. The seeded database is copied
 * before each timed scan (the scan writes its evidence), so every repetition sees the same input.
 */
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync } from "node:fs"
import path from "node:path"
import { newId } from "../packages/opencode/src/id.ts"
import { scanForCrashes } from "../packages/opencode/src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../packages/opencode/src/session/session-store.ts"
import { openDatabase } from "../packages/opencode/src/storage/database.ts"
import { Journal } from "../packages/opencode/src/storage/journal.ts"
import { median, report, round, tempDir } from "./lib.ts"

const RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 10_000)
const REPS = 5

// A pid that is certainly gone: a child that has already exited.
const deadPid = spawnSync(process.execPath, ["-e", ""]).pid ?? 999_999
const seedDir = tempDir("oc-bench-crash-")
{
  const db = openDatabase(seedDir)
  const deadBoot = newId("boot")
  const long = Date.now() - 3_600_000
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES (?, ?, ?, ?)").run(deadBoot, deadPid, long, long)
  const journal = new Journal(db, deadBoot)
  const sessions = new SessionStore(db)
  const dirs = Array.from({ length: 10 }, (_, i) => `/tmp/bench-project-${i}`)
  const sessionIds = dirs.flatMap((dir) => Array.from({ length: 10 }, () => sessions.createSession({ directory: dir, directoryKey: dir, projectID: "global" }).id))
  db.transaction(() => {
    for (let i = 0; i < 100; i++) {
      const lifecycleId = newId("lc")
      const other = `/tmp/bench-elsewhere-${i}`
      journal.append("lifecycle.started", { lifecycleId }, { lifecycleId, seq: journal.nextSeq(), operation: "reload", rootOperation: "reload", rootId: lifecycleId, origin: { kind: "server_handler", handler: "bench", provenance: { complete: true, missing: [] } }, directoryKeys: [other], directoryCount: 1, instances: [], runIds: [], startedAt: long })
    }
    for (let i = 0; i < RUNS; i++) {
      const runId = newId("run")
      const sessionId = sessionIds[i % sessionIds.length]!
      const dir = dirs[i % dirs.length]!
      const instance = { instanceId: `ins_bench${i % 10}`, generation: 1 }
      const startedAt = long + i
      journal.append("run.started", { runId, sessionId }, { runId, sessionId, instance, model: "scripted/slow", startedAt }, startedAt)
      sessions.insertRun({ runId, sessionId, directoryKey: dir, instanceId: instance.instanceId, generation: 1, model: "scripted/slow", bootId: deadBoot, startedAt })
      if (i % 2 === 0) journal.append("run.visible_output", { runId, sessionId }, { runId, at: startedAt + 5 }, startedAt + 5)
      if (i % 5 === 0) {
        const callId = `call_${i}`
        journal.append("tool.started", { runId, sessionId }, { runId, callId, name: "write", kind: "write", startedAt: startedAt + 6 }, startedAt + 6)
      }
    }
  })()
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
}

const times: number[] = []
let evidence = 0
for (let rep = 0; rep < REPS; rep++) {
  const dir = tempDir("oc-bench-crash-run-")
  mkdirSync(path.join(dir, "boots"), { recursive: true })
  copyFileSync(path.join(seedDir, "opencode.db"), path.join(dir, "opencode.db"))
  const db = openDatabase(dir)
  const journal = new Journal(db, newId("boot"))
  const sessions = new SessionStore(db)
  const start = performance.now()
  const found = scanForCrashes({ db, dataDir: dir, journal, sessions })
  times.push(performance.now() - start)
  evidence = found.length
  db.close()
}
// The read half alone (what the scan must read before it can write anything), on a fresh copy.
const readTimes: number[] = []
for (let rep = 0; rep < 3; rep++) {
  const dir = tempDir("oc-bench-crash-read-")
  copyFileSync(path.join(seedDir, "opencode.db"), path.join(dir, "opencode.db"))
  const db = openDatabase(dir)
  const journal = new Journal(db, newId("boot"))
  const sessions = new SessionStore(db)
  const start = performance.now()
  const unfinished = sessions.unfinishedRuns()
  journal.rows({ kinds: ["abort_requested", "run.visible_output", "tool.started", "tool.finished"], runIds: unfinished.map((run) => run.runId) })
  journal.rows({ kinds: ["lifecycle.started", "lifecycle.finished"] })
  readTimes.push(performance.now() - start)
  db.close()
}
report({ runs: RUNS, evidence, ms: round(median(times), 1), runsMs: times.map((t) => round(t, 1)), readMs: round(median(readTimes), 1) })
