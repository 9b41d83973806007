/**
 * The startup crash scan and another process's lock: a lock that clears within a second (a
 * server still shutting down, an export writing) is waited out with a short backoff, so the
 * scan succeeds instead of reporting `crash_scan_failed`; a lock that never clears still ends
 * the scan with the lock error after a bounded number of tries, so a boot is never stuck.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { rmSync } from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import Database from "better-sqlite3"
import { afterEach, expect, test } from "vitest"
import { scanForCrashes } from "../../src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { openDatabase, type DB } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL")
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A data dir whose gone boot left one run unfinished. */
function crashedDataDir(): { dataDir: string; db: DB } {
  const dataDir = tempDir("oc-crashscan-lock-")
  dirs.push(dataDir)
  const db = openDatabase(dataDir)
  const long = Date.now() - 3_600_000
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES ('boot_gone', 2147483646, ?, ?)").run(long, long)
  const journal = new Journal(db, "boot_gone")
  const sessions = new SessionStore(db, "boot_gone")
  const session = sessions.createSession({ directory: "/w/a", directoryKey: "/w/a", projectID: "global" })
  journal.append(
    "run.started",
    { runId: "run_locked", sessionId: session.id },
    { runId: "run_locked", sessionId: session.id, startedAt: long },
  )
  sessions.insertRun({
    runId: "run_locked",
    sessionId: session.id,
    directoryKey: "/w/a",
    instanceId: "ins_a",
    generation: 1,
    model: "scripted/slow",
    bootId: "boot_gone",
    startedAt: long,
  })
  return { dataDir, db }
}

/** Another process that takes the database's write lock and holds it for `holdMs` (forever when 0). */
async function holdLock(dataDir: string, holdMs: number): Promise<ChildProcess> {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3")
  const script = `
    const Database = require(${JSON.stringify(driver)})
    const db = new Database(${JSON.stringify(path.join(dataDir, "opencode.db"))})
    db.exec("BEGIN IMMEDIATE")
    process.stdout.write("locked\\n")
    if (${holdMs} > 0) setTimeout(() => { db.exec("COMMIT"); db.close(); process.exit(0) }, ${holdMs})
    else setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk) => String(chunk).includes("locked") && resolve())
    child.on("exit", (code) => reject(new Error(`lock holder exited early (${code})`)))
  })
  return child
}

function lockIsHeld(dataDir: string): boolean {
  const probe = new Database(path.join(dataDir, "opencode.db"), { timeout: 0 })
  try {
    probe.exec("BEGIN IMMEDIATE")
    probe.exec("ROLLBACK")
    return false
  } catch (err) {
    return (err as { code?: string }).code === "SQLITE_BUSY"
  } finally {
    probe.close()
  }
}

test("a lock held at start is waited out: the scan retries and the crashed run gets its evidence", async () => {
  const { dataDir, db } = crashedDataDir()
  await holdLock(dataDir, 500)
  expect(lockIsHeld(dataDir)).toBe(true)
  const journal = new Journal(db, "boot_now")
  const found = scanForCrashes({ db, dataDir, journal, sessions: new SessionStore(db, "boot_now") })
  expect(found.map((crash) => crash.runId)).toEqual(["run_locked"])
  const row = db.prepare("SELECT summary_boot AS by, summary FROM run WHERE id = 'run_locked'").get() as {
    by: string
    summary: string
  }
  expect(row.by).toBe("boot_now")
  expect(JSON.parse(row.summary).classification).toBe("process_exit_without_finalizer")
  // Exactly one crash row, though the first tries failed.
  expect(
    (
      db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'crash.detected' AND run_id = 'run_locked'").get() as {
        n: number
      }
    ).n,
  ).toBe(1)
  db.close()
})

test("a lock that never clears ends the scan with the lock error after its retries", async () => {
  const { dataDir, db } = crashedDataDir()
  await holdLock(dataDir, 0)
  const journal = new Journal(db, "boot_now")
  expect(() =>
    scanForCrashes({ db, dataDir, journal, sessions: new SessionStore(db, "boot_now"), lockedBackoffMs: [10, 10] }),
  ).toThrow(expect.objectContaining({ code: "SQLITE_BUSY" }))
  // Nothing half-written: the run is still unfinished for the next boot's scan.
  expect(
    (db.prepare("SELECT finished_at FROM run WHERE id = 'run_locked'").get() as { finished_at: number | null })
      .finished_at,
  ).toBeNull()
  db.close()
})
