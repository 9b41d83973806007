/**
 * The journal's backlog scenario, run in a process of its own by faults.test.ts so that a journal
 * that never returns (a flush looping forever) fails that test by its deadline instead of hanging
 * the test worker. Prints what it observed as one JSON line; the test asserts on it.
 */
import path from "node:path"
import Database from "better-sqlite3"
import { openDatabase } from "../../src/storage/database.ts"
import { Journal, MAX_BACKLOG } from "../../src/storage/journal.ts"

const dataDir = process.argv[2]!
const db = openDatabase(dataDir)
const journal = new Journal(db, "boot_test")
const other = new Database(path.join(dataDir, "opencode.db"))
other.exec("BEGIN EXCLUSIVE")
other.prepare("INSERT INTO meta (key, value) VALUES ('x', 'y')").run()
let locked: Record<string, unknown> | undefined
try {
  // Never a throw into the caller.
  for (let i = 0; i < 100; i++) journal.append("request", {}, { requestId: `req_${i}` })
  for (let i = 0; i < MAX_BACKLOG; i++) journal.append("run.started", { runId: `run_${i}` }, { runId: `run_${i}` })
  locked = {
    health: journal.health(),
    degraded: journal.degraded(),
    runRows: journal.rows({ kinds: ["run.started"] }).length,
    requestRows: journal.rows({ kinds: ["request"] }).length,
  }
} finally {
  other.exec("COMMIT")
  other.close()
}
const flushed = journal.flush()
const written = db.prepare("SELECT data FROM journal WHERE kind = 'run.started' ORDER BY seq").all() as {
  data: string
}[]
const recovered = {
  flushed,
  written: written.length,
  // The backlog is written in the order it was appended.
  inOrder: written.every((row, i) => (JSON.parse(row.data) as { runId: string }).runId === `run_${i}`),
  degraded: journal.degraded(),
}
journal.close()
db.close()
let threw = false
try {
  journal.append("run.finished", { runId: "run_late" }, {})
} catch {
  threw = true
}
process.stdout.write(
  `${JSON.stringify({ maxBacklog: MAX_BACKLOG, locked, recovered, afterClose: { threw, lost: journal.health().lost } })}\n`,
)
