/**
 * The startup scan runs before the server answers anything, on a journal that only grows: each of
 * its reads must reach the few rows it needs through an index, never walk the history of every
 * run that ever finished.
 */
import { expect, test } from "vitest"
import { JOURNALLED_ENDS } from "../../src/session/run-observability/crash-scan.ts"
import { openDatabase } from "../../src/storage/database.ts"
import { UNFINISHED_LIFECYCLE } from "../../src/storage/journal-queries.ts"
import { tempDir } from "../harness.ts"

const planOf = (sql: string) => {
  const db = openDatabase(tempDir("oc-crash-reads-"))
  try {
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail)
  } finally {
    db.close()
  }
}

test("the journalled ends are read from the crash rows, each run's run.finished through the run index", () => {
  const plan = planOf(JOURNALLED_ENDS)
  // The crash rows through the kind index; the finished rows of those runs alone, by run.
  expect(plan.some((step) => /SEARCH journal USING INDEX journal_kind \(kind=\?\)/.test(step))).toBe(true)
  expect(plan.some((step) => /SEARCH j USING INDEX journal_run \(run_id=\?\)/.test(step))).toBe(true)
  // Never every run.finished row (the kind index on j) nor the whole table.
  expect(plan.filter((step) => /\bj\b.*journal_kind|SCAN j\b|SCAN journal\b/.test(step))).toEqual([])
})

test("the actions still open are read from the open-action table, never by checking every action ever started", () => {
  const plan = planOf(UNFINISHED_LIFECYCLE)
  // The open actions' rows by seq: as many reads as actions still open, whatever the history.
  expect(plan.some((step) => /\blifecycle_open\b/.test(step))).toBe(true)
  expect(plan.some((step) => /SEARCH journal USING INTEGER PRIMARY KEY \(rowid=\?\)/.test(step))).toBe(true)
  // Never every lifecycle.started row (the kind index) nor the whole journal.
  expect(plan.filter((step) => /journal_kind|SCAN journal\b/.test(step))).toEqual([])
})
