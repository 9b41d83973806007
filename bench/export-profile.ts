/**
 * Where the export's time goes: one session seeded (BENCH_EXPORT_SIZES' first size, default 10k
 * messages), then the streamed export written to a destination that drops it, five times. Run
 * under `node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/export-profile.ts` and open the
 * profile (or summarise its self time by function).
 */
import { createRedactor } from "../packages/opencode/src/provenance/node/redaction.ts"
import { recordFormat } from "../packages/opencode/src/provenance/node/record-format.ts"
import { sessionExportText, writeExportText } from "../packages/opencode/src/session/export.ts"
import { SessionStore } from "../packages/opencode/src/session/session-store.ts"
import { openDatabase } from "../packages/opencode/src/storage/database.ts"
import { Journal } from "../packages/opencode/src/storage/journal.ts"
import { newId } from "../packages/opencode/src/id.ts"
import { rmSync } from "node:fs"
import { round, tempDir } from "./lib.ts"
import { captureRunTemplate, seedSession } from "./seed.ts"

const messages = Number((process.env.BENCH_EXPORT_SIZES ?? "10000").split(",")[0])
const template = await captureRunTemplate()
const dataDir = tempDir("oc-bench-export-prof-")
const db = openDatabase(dataDir)
const bootId = newId("boot")
db.prepare("INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES (?, ?, ?, ?, ?)").run(
  bootId,
  process.pid,
  Date.now(),
  Date.now(),
  recordFormat(),
)
const journal = new Journal(db, bootId)
const sessions = new SessionStore(db, bootId)
const session = sessions.createSession({
  directory: template.run.directoryKey,
  directoryKey: template.run.directoryKey,
  projectID: "global",
  title: "bench",
})
seedSession({ template, sessions, journal, db, sessionId: session.id, runs: messages / 2 })
const deps = { sessions, journal, redactor: createRedactor("bench-salt") }
const runs: number[] = []
for (let i = 0; i < 5; i++) {
  const start = performance.now()
  await writeExportText(sessionExportText(deps, session.id, "full")!, async () => {})
  runs.push(round(performance.now() - start, 1))
}
console.log(JSON.stringify({ messages, streamRuns: runs }))
db.close()
rmSync(dataDir, { recursive: true, force: true })
