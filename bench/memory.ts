/**
 * Benchmark 4: RSS growth over many requests through the real app (request-context middleware,
 * request journal, event bus and lifecycle buffers), in-process with `app.fetch`, GC forced
 * (`--expose-gc`) before the baseline and at every checkpoint. The mix: GETs with a directory
 * header (not journalled), app requests with action ids, and POSTs on a session (journalled,
 * so the request log fills up to its cap and prunes).
 */
import { createHost } from "../packages/opencode/src/host.ts"
import { createServerApp } from "../packages/opencode/src/server/app.ts"
import { mb, report, round, tempDir } from "./lib.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with --expose-gc")
const total = Number(process.env.BENCH_MEMORY_REQUESTS ?? 1_000_000)
const budgetMs = Number(process.env.BENCH_MEMORY_BUDGET_MS ?? 200_000)
const checkpoint = Math.max(1, Math.floor(total / 20))

const project = tempDir("oc-bench-mem-proj-")
const host = createHost({ dataDir: tempDir("oc-bench-mem-data-"), env: {}, heartbeatMs: 60_000 })
const app = createServerApp(host, { defaultDirectory: project, hostname: "127.0.0.1" })
const session = host.sessions.createSession({
  directory: project,
  directoryKey: project,
  projectID: "global",
  title: "memory",
})
const dirHeader = encodeURIComponent(project)

let n = 0
function request(i: number): Request {
  switch (i % 10) {
    case 0: // journalled: a POST on a session (no active run, so the abort is a no-op answer)
      return new Request(`http://127.0.0.1/session/${session.id}/abort`, {
        method: "POST",
        headers: {
          "x-opencode-client": "app/0.1.0",
          "x-opencode-action-id": `act_m${i}`,
          "x-opencode-action-name": "session.abort",
        },
      })
    case 1:
      return new Request("http://127.0.0.1/health")
    case 2: // an app request with a traceparent and action headers
      return new Request("http://127.0.0.1/session", {
        headers: {
          "x-opencode-directory": dirHeader,
          "x-opencode-client": "app/0.1.0",
          "x-opencode-action-id": `act_g${i}`,
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
      })
    default:
      return new Request("http://127.0.0.1/session", { headers: { "x-opencode-directory": dirHeader } })
  }
}
async function drive(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await app.fetch(request(n++))
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`status ${res.status} for request ${n}`)
  }
}
function settle(): number {
  for (let i = 0; i < 4; i++) gc!()
  return process.memoryUsage().rss
}

await drive(20_000) // warm-up: JIT, statement cache, the first request-log rows
const baseline = settle()
const heapBaseline = process.memoryUsage().heapUsed
const started = performance.now()
const points: { requests: number; rssMb: number; heapMb: number; growthMb: number }[] = []
let done = 0
while (done < total) {
  await drive(checkpoint)
  done += checkpoint
  const rss = settle()
  points.push({
    requests: done,
    rssMb: mb(rss),
    heapMb: mb(process.memoryUsage().heapUsed),
    growthMb: mb(rss - baseline),
  })
  console.log(JSON.stringify(points.at(-1)))
  if (performance.now() - started > budgetMs) break
}
const elapsed = performance.now() - started
const journalRequests = (
  host.db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'request'").get() as { n: number }
).n
host.close()
report({
  requests: done,
  target: total,
  seconds: round(elapsed / 1000, 1),
  requestsPerSecond: Math.round(done / (elapsed / 1000)),
  baselineRssMb: mb(baseline),
  baselineHeapMb: mb(heapBaseline),
  endRssMb: points.at(-1)!.rssMb,
  growthMb: points.at(-1)!.growthMb,
  maxGrowthMb: Math.max(...points.map((p) => p.growthMb)),
  points,
  journalRequestRows: journalRequests,
})
