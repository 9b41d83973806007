/**
 * Benchmark 3b: `opencode explain` on a large export, as a user runs it. A session of
 * `BENCH_EXPLAIN_MESSAGES` messages (default 100 000, about 115 MB of export) is seeded as
 * benchmark 3 seeds it and written to a file by the export's own writer (`sessionExportText`);
 * the real CLI (`bin/opencode.mjs explain FILE`) then runs on it `BENCH_EXPLAIN_RUNS` times
 * (default 3), each a fresh process, and on a 10-message export for the baseline. Time is wall
 * time from spawn to exit; peak memory is the process's own maximum RSS
 * (`process.resourceUsage().maxRSS`, the kernel's high-water mark) written at exit by a preload.
 */
import { spawn } from "node:child_process"
import { readFileSync, rmSync, statSync } from "node:fs"
import { open } from "node:fs/promises"
import path from "node:path"
import { createRedactor } from "../packages/opencode/src/provenance/node/redaction.ts"
import { sessionExportText } from "../packages/opencode/src/session/export.ts"
import { writeJsonText } from "../packages/opencode/src/session/json-text.ts"
import { mb, median, report, ROOT, round, tempDir } from "./lib.ts"
import { captureRunTemplate, openBenchSession, seedSession } from "./seed.ts"

const messages = Number(process.env.BENCH_EXPLAIN_MESSAGES ?? 100_000)
const repeats = Number(process.env.BENCH_EXPLAIN_RUNS ?? 3)
const BIN = path.join(ROOT, "packages/opencode/bin/opencode.mjs")
// Loaded before the CLI: writes the process's peak RSS (kB) to the file the parent names, at exit.
const PEAK_PRELOAD =
  "data:text/javascript,import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(process.env.BENCH_PEAK_FILE,String(process.resourceUsage().maxRSS)))"

const template = await captureRunTemplate()
const dir = tempDir("oc-bench-explain-")

/** Seeds a session of `count` messages in its own data dir and writes its full export to a file. */
async function exportFile(count: number): Promise<string> {
  const dataDir = path.join(dir, `data-${count}`)
  const { db, journal, sessions, sessionId } = openBenchSession(dataDir, template)
  seedSession({ template, sessions, journal, db, sessionId, runs: count / 2 })
  const file = path.join(dir, `export-${count}.json`)
  const handle = await open(file, "w")
  const deps = { sessions, journal, redactor: createRedactor("bench-salt") }
  await writeJsonText(sessionExportText(deps, sessionId, "full")!, (chunk) => handle.write(chunk))
  await handle.close()
  db.close()
  rmSync(dataDir, { recursive: true, force: true })
  return file
}

interface Run {
  ms: number
  peakMB: number
  code: number | null
  stdoutBytes: number
}

function explain(file: string): Promise<Run> {
  const peakFile = path.join(dir, "peak")
  rmSync(peakFile, { force: true })
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, ["--import", PEAK_PRELOAD, BIN, "explain", file], {
      cwd: ROOT,
      env: { ...process.env, BENCH_PEAK_FILE: peakFile },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdoutBytes = 0
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdoutBytes += chunk.length))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => {
      const ms = performance.now() - start
      if (code !== 0) return reject(new Error(`explain exited ${code}: ${stderr.trim()}`))
      resolve({ ms, peakMB: mb(Number(readFileSync(peakFile, "utf8")) * 1024), code, stdoutBytes })
    })
  })
}

try {
  const tiny = await exportFile(10)
  const large = await exportFile(messages)
  const baselineRuns: Run[] = []
  for (let i = 0; i < repeats; i++) baselineRuns.push(await explain(tiny))
  const runs: Run[] = []
  for (let i = 0; i < repeats; i++) {
    runs.push(await explain(large))
    process.stdout.write(`run ${i + 1}: ${round(runs.at(-1)!.ms, 0)} ms, peak ${runs.at(-1)!.peakMB} MB\n`)
  }
  const fileBytes = statSync(large).size
  const peakMB = Math.max(...runs.map((r) => r.peakMB))
  const baselinePeakMB = median(baselineRuns.map((r) => r.peakMB))
  report({
    messages,
    fileBytes,
    fileMB: mb(fileBytes),
    ms: round(median(runs.map((r) => r.ms)), 0),
    runs: runs.map((r) => ({ ms: round(r.ms, 0), peakMB: r.peakMB })),
    peakMB,
    peakVsFile: round((peakMB * 1024 * 1024) / fileBytes, 2),
    baselineMs: round(median(baselineRuns.map((r) => r.ms)), 0),
    baselinePeakMB,
    aboveBaselineMB: round(peakMB - baselinePeakMB, 1),
    outputBytes: runs[0]!.stdoutBytes,
  })
} finally {
  rmSync(dir, { recursive: true, force: true })
}
