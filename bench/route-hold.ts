/**
 * How long the server's event loop is held while a large session is read: one session of
 * BENCH_HOLD_MESSAGES messages (default 10k, seeded as in the export benchmark) on the real server
 * (`startServer`, a loopback socket), and each route that reads the whole session asked for it
 * three times by a client that keeps up, in a process of its own (a client in the server's process
 * could read only on the server's turns, and its full socket would hand the server turns of its own). While each answer is written, a chain of `setImmediate`
 * marks the loop's turns; the figure is the longest time between two of them (what every other
 * request, SSE event and heartbeat waited at most), beside the answer's time and size.
 */
import { spawn } from "node:child_process"
import { rmSync } from "node:fs"
import { startServer } from "../packages/opencode/src/server/server.ts"
import { longestHold, median, report, round, tempDir } from "./lib.ts"
import { captureRunTemplate, openBenchSession, seedSession } from "./seed.ts"

const messages = Number(process.env.BENCH_HOLD_MESSAGES ?? 10_000)
const REPS = 3

const template = await captureRunTemplate()
const dataDir = tempDir("oc-bench-hold-")
const seeded = openBenchSession(dataDir, template)
seedSession({ ...seeded, template, runs: messages / 2 })
seeded.db.close()
const running = await startServer({
  port: 0,
  hostname: "127.0.0.1",
  dataDir,
  defaultDirectory: tempDir("oc-bench-hold-dir-"),
  env: {},
})

/** GETs `url` from another process, reading the body to its end; its size in bytes. */
function fetchElsewhere(url: string): Promise<number> {
  const script = `const res = await fetch(process.argv[1]); if (res.status !== 200) { console.error("status " + res.status); process.exit(1) }
let bytes = 0; for await (const chunk of res.body) bytes += chunk.byteLength; process.stdout.write(String(bytes))`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, url], {
      stdio: ["ignore", "pipe", "inherit"],
    })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("exit", (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`client exited ${code}`))))
  })
}

const routes = ["export", "incident", "message", "run"] as const
const results = []
try {
  for (const route of routes) {
    const url = `${running.url}/session/${seeded.sessionId}/${route}`
    await fetchElsewhere(url) // warm-up
    const holds: number[] = []
    const times: number[] = []
    let bytes = 0
    for (let i = 0; i < REPS; i++) {
      const start = performance.now()
      // Timed once the client process is spawned (`spawn` itself holds the loop for some milliseconds).
      const answered = fetchElsewhere(url)
      const { holdMs, value } = await longestHold(() => answered)
      times.push(performance.now() - start)
      holds.push(holdMs)
      bytes = value
    }
    results.push({
      route: `GET /session/:id/${route}`,
      bytes,
      ms: round(median(times), 1),
      holdMs: round(median(holds), 1),
      holdRuns: holds.map((ms) => round(ms, 1)),
    })
  }
} finally {
  await running.shutdown("SIGTERM")
  rmSync(dataDir, { recursive: true, force: true })
}
report({ messages, routes: results })
