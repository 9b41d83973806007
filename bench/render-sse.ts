/** BENCHMARKS.md's section for `sse-fanout.ts`: the server's cost per event with 1, 10 and 100 SSE clients. */
import { pass, round } from "./lib.ts"

/** What `sse-fanout.ts` reports. */
export interface SseFanoutResult {
  events: number
  rounds: number
  window: number
  burst: number
  frameBytes: number
  rows: SseRow[]
  /** The same measurements of a bare `node:http` server sending the same stream (`sse-floor.ts`). */
  floor?: SseRow[]
}

interface SseRow {
  clients: number
  cpuUsPerEvent: number
  systemUsPerEvent: number
  wallUsPerEvent: number
  cpuRounds: number[]
  /** Reads per stream at the client (median): about the writes the server made to each. */
  chunksPerClient?: number
  framesReceived: number
  framesExpected: number
  cutOff: number
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
    `${result.rounds} rounds with the order of N, and which of the server and the floor goes first, reversed every round. System time is the kernel's: the sockets' writes, loopback TCP included.`,
    "",
    "| N clients | CPU µs/event | of it system | wall µs/event | reads per client | frames received/expected | CPU per round |",
    "|---:|---:|---:|---:|---:|---:|---|",
    ...result.rows.map((r) => row(`${r.clients}`, r)),
    ...(result.floor ?? []).map((r) => row(`${r.clients}, floor`, r)),
    "",
    ratio !== undefined
      ? `Target 100 clients ≤ ${TARGET_RATIO}× one client's CPU per event (decided on the server's figures, not the floor's): ${pass(ratio <= TARGET_RATIO)} (${ratio}×: ${hundred!.cpuUsPerEvent} µs against ${one!.cpuUsPerEvent} µs).${lost.length ? " Frames were lost (see the table): the figures do not stand." : " Every client received every frame."}`
      : "Target 100 clients ≤ 1.5× one client's CPU per event: not measured (N = 1 and 100 were not both run).",
    ...floorText(result, one, hundred),
    "",
  ]
}

function row(label: string, r: SseRow): string {
  return `| ${label} | ${r.cpuUsPerEvent} | ${r.systemUsPerEvent} | ${r.wallUsPerEvent} | ${r.chunksPerClient ?? "–"} | ${r.framesReceived}/${r.framesExpected}${r.framesReceived === r.framesExpected ? "" : " **frames lost**"}${r.cutOff ? ` (**${r.cutOff} cut off**)` : ""} | ${r.cpuRounds.join(", ")} |`
}

/** What the floor says: its own 100/1 ratio, what 99 more clients cost it, and so what the server's ratio could be at best. */
function floorText(result: SseFanoutResult, one: SseRow | undefined, hundred: SseRow | undefined): string[] {
  const floorOne = result.floor?.find((r) => r.clients === 1)
  const floorHundred = result.floor?.find((r) => r.clients === 100)
  if (!floorOne || !floorHundred) return []
  const floorRatio = round(floorHundred.cpuUsPerEvent / floorOne.cpuUsPerEvent, 2)
  const floorExtra = round(floorHundred.cpuUsPerEvent - floorOne.cpuUsPerEvent, 1)
  const lines = [
    "",
    'The floor (rows "floor", `bench/sse-floor.ts`): a bare `node:http` server, none of the product\'s code, in its own process, sending',
    "the same stream: each event serialised once into the same frame, the frames of each 10 ms window concatenated once, and that",
    "one Buffer written to every client's response (one write per client per window, as `/event` does), its process's CPU taken",
    "the same way, measured beside the server's in each round. It is what N clients cost at the least on this machine: the",
    "kernel's copies over loopback and Node's write path per client per window.",
    `Its 100/1 ratio: ${floorRatio}× (${floorHundred.cpuUsPerEvent} µs against ${floorOne.cpuUsPerEvent} µs); 99 more clients cost it ${floorExtra} µs per event.`,
  ]
  if (one && hundred) {
    const best = round((one.cpuUsPerEvent + floorExtra) / one.cpuUsPerEvent, 2)
    const oursExtra = round(hundred.cpuUsPerEvent - one.cpuUsPerEvent, 1)
    const above = round(oursExtra - floorExtra, 1)
    lines.push(
      `They cost the server ${oursExtra} µs per event: ${above >= 0 ? `${above} µs above the floor's` : `${-above} µs below the floor's (the two differ by noise alone)`}. With only the floor's cost per client on top of its own one-client figure, the server's ratio would be ${best}×: ${best <= TARGET_RATIO ? "within the target, so what stands between is the server's own cost per client" : "over the target, so at these figures no cost of the server's own per client taken away would meet it; only sending less per client (fewer writes or bytes) could"}.`,
    )
  }
  return lines
}
