/**
 * Benchmark 2b: SSE fan-out. The real server (`startServer`) in this process; N clients (1, 10,
 * 100) on `/event` in a child process (`sse-clients.ts`), each its own socket reading every frame.
 * Each measurement publishes EVENTS `message.part.updated` events (a streamed text part as the
 * processor publishes it: the part's text so far and the delta) on the host's bus, 10 per
 * macrotask, never more than WINDOW ahead of the slowest client (so no client reaches the
 * server's per-client bound and is cut off), and takes this process's CPU time (user + system)
 * and the wall time from the first publish until every client has every event. Rounds alternate
 * the order of N; the figures are medians over rounds.
 */
import { spawn, type ChildProcess } from "node:child_process"
import path from "node:path"
import { setImmediate as nextMacrotask } from "node:timers/promises"
import { startServer } from "../packages/opencode/src/server/server.ts"
import { BENCH_DIR, median, report, round, tempDir } from "./lib.ts"
import type { SseFanoutResult } from "./render-sse.ts"

const EVENTS = Number(process.env.BENCH_SSE_EVENTS ?? 2000)
const ROUNDS = Number(process.env.BENCH_SSE_ROUNDS ?? 5)
const CLIENTS = (process.env.BENCH_SSE_CLIENTS ?? "1,10,100").split(",").map(Number)
/** Events published ahead of the slowest client at most: a quarter of the server's 512-event bound. */
const WINDOW = 128
/** Events published per macrotask, as a streamed answer publishes a burst of deltas. */
const BURST = 10
/** A streamed text part's size mid-answer: its text so far (1 KB) and the last delta. */
const PART_TEXT = "The quick brown fox jumps over the lazy dog. ".repeat(23).slice(0, 1024)
const DELTA = "jumps over the lazy dog."

const partUpdate = (i: number) => ({
  part: { id: `prt_bench${i}`, sessionID: "ses_bench", messageID: "msg_bench", type: "text" as const, text: PART_TEXT },
  delta: DELTA,
})
/** The size of one event's frame on the wire, as `/event` writes it (id included). */
const frameBytes = Buffer.byteLength(
  `data: ${JSON.stringify({ type: "message.part.updated", properties: partUpdate(1000) })}\nid: boot_xxxxxxxxxxxx:1000\n\n`,
)

const running = await startServer({
  port: 0,
  hostname: "127.0.0.1",
  dataDir: tempDir("oc-bench-sse-data-"),
  defaultDirectory: tempDir("oc-bench-sse-default-"),
  env: {},
})
const bus = running.host.bus

interface Health {
  events: { connected: number; cutOff: number }
}
const health = async () => (await (await fetch(`${running.url}/health`)).json()) as Health

/** Messages from the clients' process, awaited one kind at a time. */
function next<T>(child: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (!(key in message)) return
      child.off("message", onMessage)
      child.off("exit", onExit)
      resolve(message as T)
    }
    const onExit = (code: number | null) => reject(new Error(`sse-clients exited ${code}`))
    child.on("message", onMessage)
    child.once("exit", onExit)
  })
}

interface Measurement {
  clients: number
  events: number
  cpuUsPerEvent: number
  /** Of it, the kernel's (system) time: the sockets' writes, loopback TCP included. */
  systemUsPerEvent: number
  wallUsPerEvent: number
  framesReceived: number
  framesExpected: number
  cutOff: number
}

async function measure(clients: number): Promise<Measurement> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "sse-clients.ts")], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  })
  const ready = next<{ ready: number }>(child, "ready")
  child.send({ url: running.url, clients })
  await ready
  const cutOffBefore = (await health()).events.cutOff
  let fewest = 0
  const onProgress = (message: { progress?: number }) => {
    if (message.progress !== undefined) fewest = message.progress
    wake?.()
  }
  let wake: (() => void) | undefined
  child.on("message", onProgress)
  const done = next<{ done: true; frames: number[] }>(child, "done")

  const firstSeq = Number(bus.positionId.split(":")[1])
  const cpuBefore = process.cpuUsage()
  const wallBefore = performance.now()
  for (let i = 0; i < EVENTS; i++) {
    while (i - fewest >= WINDOW) await new Promise<void>((resolve) => (wake = resolve))
    bus.publish({ type: "message.part.updated", properties: partUpdate(i), directoryKey: "bench" })
    if (i % BURST === BURST - 1) await nextMacrotask()
  }
  // Every event published since the clients connected, the server's own included, reaches each client.
  const published = Number(bus.positionId.split(":")[1]) - firstSeq
  child.send({ expect: published })
  const { frames } = await done
  const wallUs = (performance.now() - wallBefore) * 1000
  const cpu = process.cpuUsage(cpuBefore)
  child.off("message", onProgress)

  const cutOff = (await health()).events.cutOff - cutOffBefore
  child.send({ close: true })
  await new Promise((resolve) => child.once("exit", resolve))
  // The next measurement starts with no stream of this one still open.
  while ((await health()).events.connected > 0) await new Promise((r) => setTimeout(r, 20))
  return {
    clients,
    events: published,
    cpuUsPerEvent: (cpu.user + cpu.system) / published,
    systemUsPerEvent: cpu.system / published,
    wallUsPerEvent: wallUs / published,
    framesReceived: frames.reduce((a, b) => a + b, 0),
    framesExpected: published * clients,
    cutOff,
  }
}

await measure(10) // warm-up: the JIT, the bus, the route
const rounds: Measurement[][] = []
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? CLIENTS : [...CLIENTS].reverse()
  const results: Measurement[] = []
  for (const clients of order) results.push(await measure(clients))
  rounds.push(results)
  process.stderr.write(
    `  [sse-fanout] round ${r + 1}: ${results.map((m) => `N=${m.clients} ${round(m.cpuUsPerEvent, 1)} µs CPU/event (system ${round(m.systemUsPerEvent, 1)})`).join(", ")}\n`,
  )
}

const rows = CLIENTS.map((clients) => {
  const all = rounds.map((results) => results.find((m) => m.clients === clients)!)
  return {
    clients,
    cpuUsPerEvent: round(median(all.map((m) => m.cpuUsPerEvent)), 1),
    systemUsPerEvent: round(median(all.map((m) => m.systemUsPerEvent)), 1),
    wallUsPerEvent: round(median(all.map((m) => m.wallUsPerEvent)), 1),
    cpuRounds: all.map((m) => round(m.cpuUsPerEvent, 1)),
    framesReceived: all.reduce((sum, m) => sum + m.framesReceived, 0),
    framesExpected: all.reduce((sum, m) => sum + m.framesExpected, 0),
    cutOff: all.reduce((sum, m) => sum + m.cutOff, 0),
  }
})
await running.shutdown("SIGTERM")
report({
  events: EVENTS,
  rounds: ROUNDS,
  window: WINDOW,
  burst: BURST,
  frameBytes,
  rows,
} satisfies SseFanoutResult)
process.exit(0)
