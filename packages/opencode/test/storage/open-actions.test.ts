/**
 * The lifecycle actions still open (`lifecycle_open`, schema 5): what a boot after a crash names
 * as a crashed run's possible cause. The table is kept by triggers as lifecycle rows are written,
 * and filled once from the journal when an older database is opened; it must always say what
 * checking every action for its end would say.
 */
import Database from "better-sqlite3"
import { rmSync } from "node:fs"
import path from "node:path"
import { afterAll, expect, test } from "vitest"
import { openDatabase, schemaVersion } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function dataDir(): string {
  const dir = tempDir("oc-open-actions-")
  dirs.push(dir)
  return dir
}

const action = (lifecycleId: string) => ({ lifecycleId, operation: "reload", directoryKeys: ["/w/a"], startedAt: 1 })
const started = (journal: Journal, id: string) => journal.append("lifecycle.started", { lifecycleId: id }, action(id))
const finished = (journal: Journal, id: string) =>
  journal.append("lifecycle.finished", { lifecycleId: id }, { ...action(id), finishedAt: 2 })
const openIds = (journal: Journal) => journal.unfinishedLifecycleRows().map((row) => row.lifecycleId)

test("an action is open from its start until its end; an end written before its start never opens it", () => {
  const db = openDatabase(dataDir())
  const journal = new Journal(db, "boot_a")
  started(journal, "lc_done")
  started(journal, "lc_open")
  finished(journal, "lc_done")
  // A backlog replayed out of order: the end is stored first.
  finished(journal, "lc_late_start")
  started(journal, "lc_late_start")
  // An action that other rows name (an abort it requested) is still open until its own end.
  journal.append("abort_requested", { runId: "run_a", lifecycleId: "lc_open" }, { runId: "run_a" })
  expect(openIds(journal)).toEqual(["lc_open"])
  expect(db.prepare("SELECT lifecycle_id FROM lifecycle_open").pluck().all()).toEqual(["lc_open"])
  finished(journal, "lc_open")
  expect(openIds(journal)).toEqual([])
  db.close()
})

test("a database from before the table (schema 4) has its open actions found when opened, and kept from then on", () => {
  const dir = dataDir()
  // Written at schema 4: the journal's rows, no table of open actions.
  const first = openDatabase(dir)
  const journal = new Journal(first, "boot_old")
  started(journal, "lc_old_done")
  finished(journal, "lc_old_done")
  started(journal, "lc_old_open")
  started(journal, "lc_old_open_too")
  first.close()
  const old = new Database(path.join(dir, "opencode.db"))
  old.exec("DROP TRIGGER lifecycle_opened; DROP TRIGGER lifecycle_closed; DROP TABLE lifecycle_open")
  old.pragma("user_version = 4")
  old.close()

  const db = openDatabase(dir)
  expect(schemaVersion(db)).toBe(5)
  const reopened = new Journal(db, "boot_new")
  expect(openIds(reopened)).toEqual(["lc_old_open", "lc_old_open_too"])
  finished(reopened, "lc_old_open")
  started(reopened, "lc_new")
  expect(openIds(reopened)).toEqual(["lc_old_open_too", "lc_new"])
  db.close()
})
