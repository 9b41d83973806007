/** Section 3c of BENCHMARKS.md: the event loop while a large session is read (`bench/route-hold.ts`'s figures). */

interface HoldResult {
  messages: number
  routes: { route: string; bytes: number; ms: number; holdMs: number; holdRuns: number[] }[]
}

export function renderHold(result: unknown): string[] {
  const r = result as HoldResult
  return [
    "### 3c. The server while a large session is read",
    "",
    `One session of ${r.messages.toLocaleString("en")} messages, seeded as in 3, on the real server (\`startServer\`, a loopback socket); ` +
      "each route that reads the whole session asked for it 3 times (after a warm-up) by a client that keeps up. While each answer " +
      "is written, a chain of `setImmediate` marks the event loop's turns: the longest hold is the longest time between two " +
      "of them, what every other request, SSE event and heartbeat waited at most. Each route gives the loop a turn after every " +
      "page of messages or runs (`session/json-text.ts`); before it did, each held the loop for about its whole time.",
    "",
    "| route | answer | time (median) | longest hold (median; each) |",
    "|---|---:|---:|---:|",
    ...r.routes.map(
      (route) =>
        `| \`${route.route}\` | ${(route.bytes / 1024 / 1024).toFixed(1)} MB | ${route.ms} ms | ${route.holdMs} ms (${route.holdRuns.join(", ")}) |`,
    ),
    "",
  ]
}
