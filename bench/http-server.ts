/**
 * A benchmark HTTP server in its own process: the real host and the real `createServerApp` on
 * Node's HTTP server (as `startServer` wires them), with the spine on (`BENCH_SPINE=1`) or off.
 * For the OpenTelemetry case the parent starts this file with `--import ./bench/otel-register.mjs`
 * ahead of tsx, so Node's `http` is instrumented before anything loads it.
 * Two project directories with five sessions each: `project`, whose instance is open (as once the
 * app has created a session there through POST /session: every request naming it re-checks its
 * context), and `closedProject`, whose instance is not (a server that has not run anything there).
 * Prints `BENCH_READY <json>` with the URL and both directories, then serves until killed.
 */
import { AsyncLocalStorage } from "node:async_hooks"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { serve } from "@hono/node-server"
import { createHost } from "../packages/opencode/src/host.ts"
import { composeServerApp, requestHop } from "../packages/opencode/src/server/app.ts"
import { startServerTracing } from "../packages/opencode/src/tracing/server-tracing.ts"
import { tempDir } from "./lib.ts"

const spine = process.env.BENCH_SPINE !== "0"
// BENCH_ALS=1: switch Node's AsyncLocalStorage machinery on (as the spine and OTel both do) without
// the spine, to separate the cost of ambient context on Node 20 from the middleware's own work.
if (process.env.BENCH_ALS === "1") new AsyncLocalStorage().run({}, () => {})
const dataDir = tempDir("oc-bench-data-")
const project = tempDir("oc-bench-proj-")
const closedProject = tempDir("oc-bench-proj-closed-")
const host = createHost({ dataDir, env: {}, scriptedTickMs: 500 })
// A few sessions, so GET /session answers a realistic list.
for (const dir of [project, closedProject]) {
  for (let i = 0; i < 5; i++)
    host.sessions.createSession({ directory: dir, directoryKey: dir, projectID: "global", title: `bench ${i}` })
}
await host.instances.load(project, project, undefined)
// BENCH_EXPORT=1: trace export on, to a loopback OTLP receiver that accepts everything.
let tracing: ReturnType<typeof startServerTracing>
if (process.env.BENCH_EXPORT === "1") {
  const receiver = createServer((req, res) => req.resume().on("end", () => res.writeHead(200).end("{}")))
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  tracing = startServerTracing(host, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })
}
const app = composeServerApp(
  host,
  {
    defaultDirectory: project,
    hostname: "127.0.0.1",
    ...(tracing ? { tracing: () => tracing!.counts() } : {}),
  },
  spine ? [requestHop(host, project)] : [],
)
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(
    `BENCH_READY ${JSON.stringify({ url: `http://127.0.0.1:${info.port}`, project, closedProject })}\n`,
  )
})
const stop = async () => {
  const spans = await (globalThis as { __benchSpans?: () => Promise<number> }).__benchSpans?.()
  if (spans !== undefined) process.stdout.write(`BENCH_SPANS ${spans}\n`)
  server.close()
  host.close()
  process.exit(0)
}
process.on("SIGTERM", () => void stop())
process.on("SIGINT", () => void stop())
