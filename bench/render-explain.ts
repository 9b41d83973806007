/** Section 3b of BENCHMARKS.md: `opencode explain` on a large export (`bench/explain.ts`'s figures). */
import { pass } from "./lib.ts"

interface ExplainResult {
  messages: number
  fileMB: number
  ms: number
  runs: { ms: number; peakMB: number }[]
  peakMB: number
  peakVsFile: number
  baselineMs: number
  baselinePeakMB: number
  aboveBaselineMB: number
  outputBytes: number
}

export function renderExplain(result: unknown): string[] {
  const r = result as ExplainResult
  return [
    "### 3b. `explain` on a large export",
    "",
    `A session of ${r.messages.toLocaleString("en")} messages, seeded as in 3, written to a file by the export's own writer; ` +
      `the real CLI (\`node packages/opencode/bin/opencode.mjs explain FILE\`) run on it ${r.runs.length} times, each a fresh process, ` +
      "and on a 10-message export for the baseline. Time is wall time from spawn to exit (Node and tsx starting included); " +
      "peak memory is the process's maximum RSS (`process.resourceUsage().maxRSS`, written at exit by a preload). " +
      `The output is ${Math.round(r.outputBytes / 1024 / 1024)} MB of text.`,
    "",
    "| export | file | time (median) | peak RSS (largest) | peak ÷ file | above the baseline |",
    "|---|---|---|---|---|---|",
    `| ${r.messages.toLocaleString("en")} messages | ${r.fileMB} MB | ${r.ms} ms (${r.runs.map((run) => run.ms).join(", ")}) | ${r.peakMB} MB (${r.runs.map((run) => run.peakMB).join(", ")}) | ${r.peakVsFile}× | ${r.aboveBaselineMB} MB |`,
    `| 10 messages (baseline) | – | ${r.baselineMs} ms | ${r.baselinePeakMB} MB | – | – |`,
    "",
    `Target peak memory ≤ 2× the file's size: ${pass(r.peakVsFile <= 2)} (${r.peakMB} MB for ${r.fileMB} MB, ${r.peakVsFile}×).`,
    "",
  ]
}
