/**
 * The real server (`startServer`: host, app, config watcher) in its own process, for the
 * lifecycle latency benchmark. Prints `BENCH_READY <json>` and serves until SIGTERM.
 */
import { startServer } from "../packages/opencode/src/server/server.ts"
import { tempDir } from "./lib.ts"

const running = await startServer({
  port: 0,
  hostname: "127.0.0.1",
  dataDir: tempDir("oc-bench-data-"),
  defaultDirectory: tempDir("oc-bench-default-"),
  scriptedTickMs: Number(process.env.BENCH_TICK_MS ?? 1000),
  env: {},
})
process.stdout.write(`BENCH_READY ${JSON.stringify({ url: running.url })}\n`)
const stop = () => void running.shutdown("SIGTERM").finally(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
