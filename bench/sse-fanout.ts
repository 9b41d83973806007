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
  /** Reads per stream, median over the streams: about the writes the server made to each. */
  chunksPerClient: number
  framesReceived: number
  framesExpected: number
  cutOff: number
}

/** The floor (`sse-floor.ts`): a bare `node:http` server sending the same stream, in its own process. */
const floor = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "sse-floor.ts")], {
  stdio: ["ignore", "inherit", "inherit", "ipc"],
  env: {
    ...process.env,
    SSE_WINDOW: String(WINDOW),
    SSE_BURST: String(BURST),
    SSE_PART_TEXT: PART_TEXT,
    SSE_DELTA: DELTA,
    SSE_BOOT_ID: running.host.bootId,
  },
})
const floorUrl = (await next<{ listening: string }>(floor, "listening")).listening

/**
 * One measurement with `clients` streams, of the server (`ours`) or of the floor: the clients'
 * process started and connected, the events published, CPU and wall taken until every stream has
 * every event.
 */
async function measure(clients: number, target: "ours" | "floor"): Promise<Measurement> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "sse-clients.ts")], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  })
  const ready = next<{ ready: number }>(child, "ready")
  child.send({ url: target === "ours" ? running.url : floorUrl, clients })
  await ready
  const cutOffBefore = target === "ours" ? (await health()).events.cutOff : 0
  let fewest = 0
  const onProgress = (message: { progress?: number }) => {
    if (message.progress === undefined) return
    if (target === "floor") return floor.send({ progress: message.progress })
    fewest = message.progress
    wake?.()
  }
  let wake: (() => void) | undefined
  child.on("message", onProgress)
  const done = next<{ done: true; frames: number[]; chunks: number[]; starts: number[] }>(child, "done")

  let published: number
  let cpu: NodeJS.CpuUsage
  let wallUs: number
  let result: { frames: number[]; chunks: number[]; starts: number[] }
  let framesExpected: number
  const firstSeq = Number(bus.positionId.split(":")[1])
  if (target === "ours") {
    const cpuBefore = process.cpuUsage()
    const wallBefore = performance.now()
    for (let i = 0; i < EVENTS; i++) {
      while (i - fewest >= WINDOW) await new Promise<void>((resolve) => (wake = resolve))
      bus.publish({ type: "message.part.updated", properties: partUpdate(i), directoryKey: "bench" })
      if (i % BURST === BURST - 1) await nextMacrotask()
    }
    // Every event published since the clients connected, the server's own included, reaches each client.
    published = Number(bus.positionId.split(":")[1]) - firstSeq
    child.send({ expect: published })
    result = await done
    wallUs = (performance.now() - wallBefore) * 1000
    cpu = process.cpuUsage(cpuBefore)
    // Each stream gets every event after its server.connected, the server's own (a heartbeat)
    // published while the others were still connecting included.
    const lastSeq = firstSeq + published
    framesExpected = result.starts.reduce((sum, start) => sum + lastSeq - start, 0)
  } else {
    const wallBefore = performance.now()
    const ran = next<{ published: number }>(floor, "published")
    floor.send({ run: EVENTS, seq: firstSeq })
    published = (await ran).published
    child.send({ expect: published })
    result = await done
    wallUs = (performance.now() - wallBefore) * 1000
    const stopped = next<{ cpu: NodeJS.CpuUsage }>(floor, "cpu")
    floor.send({ stop: true })
    cpu = (await stopped).cpu
    framesExpected = published * clients
  }
  child.off("message", onProgress)

  const cutOff = target === "ours" ? (await health()).events.cutOff - cutOffBefore : 0
  child.send({ close: true })
  await new Promise((resolve) => child.once("exit", resolve))
  // The next measurement starts with no stream of this one still open.
  const connected = async () => {
    if (target === "ours") return (await health()).events.connected
    const answer = next<{ connected: number }>(floor, "connected")
    floor.send({ connected: true })
    return (await answer).connected
  }
  while ((await connected()) > 0) await new Promise((r) => setTimeout(r, 20))
  return {
    clients,
    events: published,
    cpuUsPerEvent: (cpu.user + cpu.system) / published,
    systemUsPerEvent: cpu.system / published,
    wallUsPerEvent: wallUs / published,
    chunksPerClient: median(result.chunks),
    framesReceived: result.frames.reduce((a, b) => a + b, 0),
    framesExpected,
    cutOff,
  }
}

await measure(10, "ours") // warm-up: the JIT, the bus, the route
await measure(10, "floor")
const rounds: { ours: Measurement[]; floor: Measurement[] }[] = []
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? CLIENTS : [...CLIENTS].reverse()
  const measured: { ours: Measurement[]; floor: Measurement[] } = { ours: [], floor: [] }
  // Each N's two measurements side by side, which goes first alternating with the round.
  for (const clients of order)
    for (const target of r % 2 === 0 ? (["ours", "floor"] as const) : (["floor", "ours"] as const))
      measured[target].push(await measure(clients, target))
  rounds.push(measured)
  const line = (results: Measurement[]) =>
    results
      .map((m) => `N=${m.clients} ${round(m.cpuUsPerEvent, 1)} µs CPU/event (system ${round(m.systemUsPerEvent, 1)})`)
      .join(", ")
  process.stderr.write(`  [sse-fanout] round ${r + 1}: ${line(measured.ours)}; floor ${line(measured.floor)}\n`)
}

const rowsOf = (target: "ours" | "floor") =>
  CLIENTS.map((clients) => {
    const all = rounds.map((r) => r[target].find((m) => m.clients === clients)!)
    return {
      clients,
      cpuUsPerEvent: round(median(all.map((m) => m.cpuUsPerEvent)), 1),
      systemUsPerEvent: round(median(all.map((m) => m.systemUsPerEvent)), 1),
      wallUsPerEvent: round(median(all.map((m) => m.wallUsPerEvent)), 1),
      cpuRounds: all.map((m) => round(m.cpuUsPerEvent, 1)),
      chunksPerClient: median(all.map((m) => m.chunksPerClient)),
      framesReceived: all.reduce((sum, m) => sum + m.framesReceived, 0),
      framesExpected: all.reduce((sum, m) => sum + m.framesExpected, 0),
      cutOff: all.reduce((sum, m) => sum + m.cutOff, 0),
    }
  })
floor.send({ close: true })
await running.shutdown("SIGTERM")
report({
  events: EVENTS,
  rounds: ROUNDS,
  window: WINDOW,
  burst: BURST,
  frameBytes,
  rows: rowsOf("ours"),
  floor: rowsOf("floor"),
} satisfies SseFanoutResult)
process.exit(0)
