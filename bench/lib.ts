/** Shared helpers of the benchmarks: temp dirs, child processes that report one JSON line, statistics. */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, realpathSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.resolve(BENCH_DIR, "..")

export function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)))
}

/** Writes the result line a child part reports to its parent. */
export function report(result: unknown): void {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`)
}

/** Runs `bench/<script>` in a fresh Node (tsx loaded) and returns the JSON it reports. */
export function runPart<T>(
  script: string,
  args: { nodeArgs?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(args.nodeArgs ?? []), "--import", "tsx", path.join(BENCH_DIR, script)], {
      cwd: ROOT,
      env: { ...process.env, ...args.env },
      stdio: ["ignore", "pipe", "inherit"],
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      for (const line of chunk.toString().split("\n"))
        if (line && !line.startsWith("BENCH_RESULT ")) process.stderr.write(`  [${script}] ${line}\n`)
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), args.timeoutMs ?? 600_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "))
      if (code !== 0 || !line) return reject(new Error(`${script} exited ${code}${line ? "" : " without a result"}`))
      resolve(JSON.parse(line.slice("BENCH_RESULT ".length)) as T)
    })
  })
}

/** A process's CPU time (user + system) in µs, from /proc (Linux); undefined elsewhere. */
export function cpuMicros(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  )
}

/** A target's verdict, as BENCHMARKS.md words it. */
export function pass(ok: boolean): string {
  return ok ? "met" : "**missed**"
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

export function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1)
}

/** The longest wait between two turns of the event loop (a chain of `setImmediate` marks each) while `work` runs, from its call until it settles. */
export async function longestHold<T>(work: () => Promise<T>): Promise<{ holdMs: number; value: T }> {
  let last = performance.now()
  let longest = 0
  let on = true
  const tick = () => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
    if (on) setImmediate(tick)
  }
  setImmediate(tick)
  try {
    const value = await work()
    return { holdMs: Math.max(longest, performance.now() - last), value }
  } finally {
    on = false
  }
}
