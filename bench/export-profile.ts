/**
 * Where the export's time goes: one session seeded (BENCH_EXPORT_SIZES' first size, default 10k
 * messages), then the streamed export written to a destination that drops it, five times. Run
 * under `node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/export-profile.ts` and open the
 * profile (or summarise its self time by function).
 */
import { createRedactor } from "../packages/opencode/src/provenance/node/redaction.ts"
import { sessionExportText } from "../packages/opencode/src/session/export.ts"
import { writeJsonText } from "../packages/opencode/src/session/json-text.ts"
import { rmSync } from "node:fs"
import { round, tempDir } from "./lib.ts"
import { captureRunTemplate, openBenchSession, seedSession } from "./seed.ts"

const messages = Number((process.env.BENCH_EXPORT_SIZES ?? "10000").split(",")[0])
const template = await captureRunTemplate()
const dataDir = tempDir("oc-bench-export-prof-")
const { db, journal, sessions, sessionId } = openBenchSession(dataDir, template)
seedSession({ template, sessions, journal, db, sessionId, runs: messages / 2 })
const deps = { sessions, journal, redactor: createRedactor("bench-salt") }
const runs: number[] = []
for (let i = 0; i < 5; i++) {
  const start = performance.now()
  await writeJsonText(sessionExportText(deps, sessionId, "full")!, async () => {})
  runs.push(round(performance.now() - start, 1))
}
console.log(JSON.stringify({ messages, streamRuns: runs }))
db.close()
rmSync(dataDir, { recursive: true, force: true })
