/**
 * The real server (`startServer`: host, app, config watcher) in its own process, for the
 * lifecycle latency benchmark. Prints `BENCH_READY <json>` and serves until SIGTERM.
 *
 * Beside it, in the same process (same event loop, same load), a bare SSE echo on a plain
 * `node:http` server: `GET /events` holds a stream, `POST /echo` writes one frame carrying the
 * time it was written. And the time each `lifecycle.action.finished` was published on the bus
 * (`GET /published`), so the client can time the SSE leg alone for both; a frame also goes out on
 * the echo's streams at that same moment, so the echo is timed under the same load as well.
 */
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { startServer } from "../packages/opencode/src/server/server.ts"
import { tempDir } from "./lib.ts"

/** Wall-clock time in ms with sub-ms precision, comparable across processes on this machine. */
const now = () => performance.timeOrigin + performance.now()

const running = await startServer({
  port: 0,
  hostname: "127.0.0.1",
  dataDir: tempDir("oc-bench-data-"),
  defaultDirectory: tempDir("oc-bench-default-"),
  scriptedTickMs: Number(process.env.BENCH_TICK_MS ?? 1000),
  env: {},
})
// Subscribed before any SSE client, so each stamp is taken before the event is queued for one.
// At the same moment a frame goes out on the bare echo's streams as well (written straight to
// their sockets, before /event has even queued the event): the bare echo under the very load the
// event meets (the close's own work, the client busy with the reload's answer).
const published: Record<string, number> = {}
const streams = new Set<ServerResponse>()
let echoes = 0
running.host.bus.subscribe((event) => {
  if (event.type !== "lifecycle.action.finished") return
  const at = now()
  published[(event.properties as { action: { lifecycleId: string } }).action.lifecycleId] = at
  const frame = `data: ${JSON.stringify({ echo: ++echoes, at, moment: "published" })}\n\n`
  for (const stream of streams) stream.write(frame)
})
const echo = createServer((req, res) => {
  if (req.url === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    res.write(": ok\n\n")
    streams.add(res)
    res.on("close", () => streams.delete(res))
  } else if (req.url === "/echo") {
    const frame = `data: ${JSON.stringify({ echo: ++echoes, at: now(), moment: "quiet" })}\n\n`
    for (const stream of streams) stream.write(frame)
    res.writeHead(204).end()
  } else if (req.url === "/published") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(published))
  } else res.writeHead(404).end()
})
await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve))
process.stdout.write(
  `BENCH_READY ${JSON.stringify({ url: running.url, echoUrl: `http://127.0.0.1:${(echo.address() as AddressInfo).port}` })}\n`,
)
const stop = () => void running.shutdown("SIGTERM").finally(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
