/** BENCHMARKS.md's section for `sse-fanout.ts`: the server's cost per event with 1, 10 and 100 SSE clients. */
import { pass } from "./lib.ts"

/** What `sse-fanout.ts` reports. */
export interface SseFanoutResult {
  events: number
  rounds: number
  window: number
  burst: number
  frameBytes: number
  rows: {
    clients: number
    cpuUsPerEvent: number
    systemUsPerEvent: number
    wallUsPerEvent: number
    cpuRounds: number[]
    framesReceived: number
    framesExpected: number
    cutOff: number
  }[]
}

/** Ratio of 100 clients' CPU per event to one client's, past which the fan-out misses its target. */
const TARGET_RATIO = 1.5

export function renderSse(result: SseFanoutResult | undefined): string[] {
  if (!result) return []
  const one = result.rows.find((r) => r.clients === 1)
  const hundred = result.rows.find((r) => r.clients === 100)
  const lost = result.rows.filter((r) => r.framesReceived !== r.framesExpected || r.cutOff > 0)
  const ratio = one && hundred ? Math.round((hundred.cpuUsPerEvent / one.cpuUsPerEvent) * 100) / 100 : undefined
  return [
    "### 2b. SSE fan-out",
    "",
    "`bench/sse-fanout.ts`: the real server (`startServer`) in the bench's process, N clients on `/event` in a child process",
    "(`bench/sse-clients.ts`, plain `node:http`, one socket each, every frame counted). Each measurement publishes",
    `${result.events} \`message.part.updated\` events (a streamed text part: its 1 KB text so far and the delta; ${result.frameBytes} bytes a frame)`,
    `on the host's bus, ${result.burst} per macrotask and never more than ${result.window} ahead of the slowest client (so none reaches the`,
    "per-client bound and is cut off). CPU is the server process's user + system time (`process.cpuUsage()`) from the first",
    "publish until every client has every event, wall the same span; per event, median of",
    `${result.rounds} rounds with the order of N reversed every round. System time is the kernel's: the sockets' writes, loopback TCP included.`,
    "",
    "| N clients | CPU µs/event | of it system | wall µs/event | frames received/expected | CPU per round |",
    "|---:|---:|---:|---:|---:|---|",
    ...result.rows.map(
      (r) =>
        `| ${r.clients} | ${r.cpuUsPerEvent} | ${r.systemUsPerEvent} | ${r.wallUsPerEvent} | ${r.framesReceived}/${r.framesExpected}${r.framesReceived === r.framesExpected ? "" : " **frames lost**"}${r.cutOff ? ` (**${r.cutOff} cut off**)` : ""} | ${r.cpuRounds.join(", ")} |`,
    ),
    "",
    ratio !== undefined
      ? `Target 100 clients ≤ ${TARGET_RATIO}× one client's CPU per event: ${pass(ratio <= TARGET_RATIO)} (${ratio}×: ${hundred!.cpuUsPerEvent} µs against ${one!.cpuUsPerEvent} µs).${lost.length ? " Frames were lost (see the table): the figures do not stand." : " Every client received every frame."}`
      : "Target 100 clients ≤ 1.5× one client's CPU per event: not measured (N = 1 and 100 were not both run).",
    "",
  ]
}
