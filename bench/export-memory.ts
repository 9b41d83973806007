/**
 * One export of a seeded session in a fresh process, for its peak memory: `BENCH_EXPORT_DATA_DIR`
 * holds the database, `BENCH_EXPORT_SESSION` names the session. `BENCH_EXPORT_MODE=stream` asks the
 * real app for `GET /session/:id/export` and reads the body to its end, discarding it (a client
 * that keeps up); `built` builds the whole document and its whole text, as the route did before it
 * streamed; `floor` reads the rows the export reads (`exportFloorStatements`) and writes each one's
 * JSON text to a web stream read the same way in 64 kB chunks, none of the export's own work: what
 * SQLite, V8 and a stream take alone. The baseline is the process's RSS with the host and app open and garbage collected;
 * the peak is the process's maximum RSS (`resourceUsage().maxRSS`).
 */
import { createHost } from "../packages/opencode/src/host.ts"
import { createServerApp } from "../packages/opencode/src/server/app.ts"
import { buildSessionExport } from "../packages/opencode/src/session/export.ts"
import { mb, report, round } from "./lib.ts"
import { exportFloorStatements } from "./seed.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with --expose-gc")
const dataDir = process.env.BENCH_EXPORT_DATA_DIR!
const sessionId = process.env.BENCH_EXPORT_SESSION!
const modes = ["stream", "built", "floor"] as const
const mode = modes.find((m) => m === process.env.BENCH_EXPORT_MODE) ?? "stream"

const host = createHost({ dataDir, readOnly: true, env: {} })
const app = createServerApp(host, { defaultDirectory: dataDir, hostname: "127.0.0.1" })
gc()
const baseline = process.memoryUsage().rss
const start = performance.now()
let bytes = 0
if (mode === "stream") {
  const res = await app.fetch(new Request(`http://127.0.0.1/session/${sessionId}/export`))
  if (res.status !== 200) throw new Error(`export answered ${res.status}`)
  const reader = res.body!.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) bytes += read.value.byteLength
} else if (mode === "floor") {
  const statements = exportFloorStatements(host.db)
  function* rows() {
    for (const statement of statements) for (const row of statement.iterate({ sessionId })) yield JSON.stringify(row)
  }
  const text = rows()
  const encoder = new TextEncoder()
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      let chunk = ""
      for (let next = text.next(); ; next = text.next()) {
        if (next.done) {
          if (chunk) controller.enqueue(encoder.encode(chunk))
          controller.close()
          return
        }
        chunk += next.value
        if (chunk.length >= 64 * 1024) break
      }
      controller.enqueue(encoder.encode(chunk))
    },
  })
  const reader = stream.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) bytes += read.value.byteLength
} else {
  bytes = Buffer.byteLength(JSON.stringify(buildSessionExport(host, sessionId, "full")))
}
const ms = performance.now() - start
const peak = process.resourceUsage().maxRSS * 1024
host.close()
report({
  mode,
  bytes,
  ms: round(ms, 0),
  baselineMB: mb(baseline),
  peakMB: mb(peak),
  aboveBaselineMB: mb(peak - baseline),
})
