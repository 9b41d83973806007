/**
 * Benchmark 3: `GET /session/:id/export`'s work (the document built, then `JSON.stringify` as
 * `c.json` does) against `JSON.stringify` of the same document alone, `buildSessionExport` on a
 * seeded database and `deriveIncidentChains` on its own,
 * at 1k / 10k / 100k messages with proportional diagnostic records (per run of two messages:
 * its summary, run.started / visible_output / finished, lifecycle started / finished,
 * abort_requested, the prompt and reload requests, the renderer action = 10 records, so 5 per message).
 */
import { createRedactor } from "../packages/opencode/src/provenance/node/redaction.ts"
import { deriveIncidentChains } from "../packages/opencode/src/provenance/incident-chain.ts"
import type {
  ClientAction,
  LifecycleAction,
  RequestContext,
  RunSummary,
} from "../packages/opencode/src/provenance/schemas.ts"
import { recordFormat } from "../packages/opencode/src/provenance/node/record-format.ts"
import { buildSessionExport, sessionExportText } from "../packages/opencode/src/session/export.ts"
import { writeJsonText } from "../packages/opencode/src/session/json-text.ts"
import { rmSync } from "node:fs"
import { longestHold, median, report, round, runPart, tempDir } from "./lib.ts"
import { captureRunTemplate, exportFloorStatements, openBenchSession, recordsPerRun, seedSession } from "./seed.ts"

const sizes = (process.env.BENCH_EXPORT_SIZES ?? "1000,10000,100000").split(",").map(Number)
const template = await captureRunTemplate()

/** Collects garbage before each timed call (run with --expose-gc): each call then pays for its own garbage, not for the previous call's. */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {})

function time<T>(fn: () => T): { ms: number; value: T } {
  collect()
  const start = performance.now()
  const value = fn()
  return { ms: performance.now() - start, value }
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  collect()
  const start = performance.now()
  await fn()
  return performance.now() - start
}

const results = []
for (const messages of sizes) {
  const dataDir = tempDir("oc-bench-export-")
  const { db, bootId, journal, sessions, sessionId } = openBenchSession(dataDir, template)
  const redactor = createRedactor("bench-salt")
  const runs = messages / 2
  const seeded = time(() => seedSession({ template, sessions, journal, db, sessionId, runs }))
  const journalRows = (db.prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n
  const requestRows = (db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'request'").get() as { n: number }).n
  const records = journalRows + runs
  const deps = { sessions, journal, redactor }
  const reps = messages >= 100_000 ? 2 : 4
  buildSessionExport(deps, sessionId, "full") // warm-up
  const exportMs: number[] = []
  let doc!: NonNullable<ReturnType<typeof buildSessionExport>>
  for (let i = 0; i < reps; i++) {
    const t = time(() => buildSessionExport(deps, sessionId, "full")!)
    exportMs.push(t.ms)
    doc = t.value
  }
  // What GET /session/:id/export does per call: the document built and serialised (c.json), and
  // JSON.stringify of the same document alone, timed in pairs back to back (the order swapped
  // every pair): the ratio is the median of the pairs' ratios, so load from other processes that
  // lasts longer than a pair weighs on both sides of it.
  const routeMs: number[] = []
  const stringifyRuns: number[] = []
  const pairRatios: number[] = []
  for (let i = 0; i < reps * 2; i++) {
    const route = () => time(() => JSON.stringify(buildSessionExport(deps, sessionId, "full"))).ms
    const stringify = () => time(() => JSON.stringify(doc)).ms
    let r: number
    let st: number
    if (i % 2 === 0) {
      r = route()
      st = stringify()
    } else {
      st = stringify()
      r = route()
    }
    routeMs.push(r)
    stringifyRuns.push(st)
    pairRatios.push(r / st)
  }
  const stringifyMs = median(stringifyRuns)

  // The route as it is: the document written as it is read (sessionExportText → writeJsonText),
  // to a destination that keeps up and drops it; timed in pairs with JSON.stringify, as above.
  const streamed = () => writeJsonText(sessionExportText(deps, sessionId, "full")!, async () => {})
  await streamed() // warm-up
  const streamRuns: number[] = []
  const streamRatios: number[] = []
  for (let i = 0; i < reps * 2; i++) {
    const stringify = () => time(() => JSON.stringify(doc)).ms
    let r: number
    let st: number
    if (i % 2 === 0) {
      r = await timeAsync(streamed)
      st = stringify()
    } else {
      st = stringify()
      r = await timeAsync(streamed)
    }
    streamRuns.push(r)
    streamRatios.push(r / st)
  }
  // Time to the first byte: from the call to the first write handed to the destination, which
  // then goes away (so nothing more is read).
  const firstByteRuns: number[] = []
  for (let i = 0; i < 5; i++) {
    let at: number | undefined
    collect()
    const start = performance.now()
    await writeJsonText(
      sessionExportText(deps, sessionId, "full")!,
      async () => void (at ??= performance.now() - start),
      () => at !== undefined,
    )
    firstByteRuns.push(at!)
  }
  // The longest the event loop waits on the route: the longest time between two of its turns
  // while the export is written (a chain of setImmediate marks each turn), in runs of their own.
  const holdRuns: number[] = []
  for (let i = 0; i < 3; i++) {
    collect()
    holdRuns.push((await longestHold(streamed)).holdMs)
  }
  // The floor: the rows the export reads, read from SQLite alone (no object built, nothing written).
  const floorStatements = exportFloorStatements(db)
  const readAll = () => {
    let rows = 0
    for (const statement of floorStatements) for (const _ of statement.iterate({ sessionId })) rows++
    return rows
  }
  readAll()
  const floorRuns: number[] = []
  let floorRows = 0
  for (let i = 0; i < reps * 2; i++) {
    const t = time(readAll)
    floorRuns.push(t.ms)
    floorRows = t.value
  }
  // Peak memory of one export, each in a fresh process: as the route streams it, as it was built
  // whole (the document, then its text) before, and the floor (the rows alone through a stream).
  const memory: Record<string, unknown> = {}
  for (const mode of ["stream", "built", "floor"])
    memory[mode] = await runPart("export-memory.ts", {
      nodeArgs: ["--expose-gc"],
      env: { BENCH_EXPORT_DATA_DIR: dataDir, BENCH_EXPORT_SESSION: sessionId, BENCH_EXPORT_MODE: mode },
    })

  // The same export when every record is another build's (a database carried across versions):
  // each record is then parsed through its schema.
  db.prepare("UPDATE boot SET record_format = 'another-build' WHERE id = ?").run(bootId)
  buildSessionExport(deps, sessionId, "full")
  const foreignMs: number[] = []
  for (let i = 0; i < reps; i++) foreignMs.push(time(() => buildSessionExport(deps, sessionId, "full")!).ms)
  db.prepare("UPDATE boot SET record_format = ? WHERE id = ?").run(recordFormat(), bootId)

  // deriveIncidentChains on its own, over every record of the session (no export caps).
  const input = {
    runs: sessions.runs(sessionId).flatMap((run) => (run.summary ? [run.summary as RunSummary] : [])),
    lifecycle: journal.rows({ kinds: ["lifecycle.finished"] }).map((row) => row.data as LifecycleAction),
    requests: journal.rows({ kinds: ["request"] }).map((row) => row.data as RequestContext),
    renderer: journal.rows({ kinds: ["renderer"] }).map((row) => row.data as ClientAction),
    crashes: [],
  }
  const inputRecords = input.runs.length + input.lifecycle.length + input.requests.length + input.renderer.length
  deriveIncidentChains(input)
  const deriveMs: number[] = []
  let chains = 0
  for (let i = 0; i < reps; i++) {
    const t = time(() => deriveIncidentChains(input))
    deriveMs.push(t.ms)
    chains = t.value.length
  }
  const result = {
    messages,
    runs,
    records,
    journalRows,
    requestRows,
    seedMs: round(seeded.ms, 0),
    exportMs: round(median(exportMs), 1),
    exportRuns: exportMs.map((ms) => round(ms, 1)),
    foreignExportMs: round(median(foreignMs), 1),
    foreignExportRuns: foreignMs.map((ms) => round(ms, 1)),
    stringifyMs: round(stringifyMs, 1),
    routeMs: round(median(routeMs), 1),
    routeRuns: routeMs.map((ms) => round(ms, 1)),
    routeUsPerRecord: round((median(routeMs) * 1000) / records, 2),
    routeVsStringify: round(median(pairRatios), 2),
    streamMs: round(median(streamRuns), 1),
    streamRuns: streamRuns.map((ms) => round(ms, 1)),
    streamUsPerRecord: round((median(streamRuns) * 1000) / records, 2),
    streamVsStringify: round(median(streamRatios), 2),
    firstByteMs: round(median(firstByteRuns), 1),
    firstByteRuns: firstByteRuns.map((ms) => round(ms, 1)),
    holdMs: round(median(holdRuns), 1),
    holdRuns: holdRuns.map((ms) => round(ms, 1)),
    floorMs: round(median(floorRuns), 1),
    floorRuns: floorRuns.map((ms) => round(ms, 1)),
    floorRows,
    floorUsPerRecord: round((median(floorRuns) * 1000) / records, 2),
    memory,
    exportBytes: JSON.stringify(doc).length,
    exportIncidents: doc.incidents.length,
    truncated: doc.diagnostics.truncated,
    deriveRecords: inputRecords,
    deriveMs: round(median(deriveMs), 1),
    deriveChains: chains,
    exportUsPerRecord: round((median(exportMs) * 1000) / records, 2),
    deriveUsPerRecord: round((median(deriveMs) * 1000) / inputRecords, 2),
    recordsPerRun: recordsPerRun(template),
  }
  console.log(JSON.stringify(result))
  results.push(result)
  db.close()
  rmSync(dataDir, { recursive: true, force: true })
}
report(results)
