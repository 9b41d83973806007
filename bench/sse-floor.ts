/**
 * The floor of `sse-fanout.ts`: a bare `node:http` server (none of the product's code) in its own
 * process that sends the same SSE stream the way `/event` does at the least: each event serialised
 * once into the same frame (`data:` line and id, the same bytes), the frames published within
 * COALESCE_MS concatenated once into one Buffer, and that Buffer written to every client's response
 * (one `res.write` per client per window, chunked as ours). On `{ run }` it publishes that many events
 * as `sse-fanout.ts` does on the bus (BURST per macrotask, never more than WINDOW ahead of the
 * slowest client, told by `{ progress }`), answers `{ published }`, and on `{ stop }` answers
 * `{ cpu }`: its own CPU time since the run began. `{ connected }` answers how many streams are open.
 */
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { setImmediate as nextMacrotask } from "node:timers/promises"

const WINDOW = Number(process.env.SSE_WINDOW)
const BURST = Number(process.env.SSE_BURST)
/** As `/event`: what is published within this long goes out as one write per client. */
const COALESCE_MS = 10
/** The server's boot id, so the ids (`BOOTID:SEQ`) are as long as its own. */
const BOOT_ID = process.env.SSE_BOOT_ID!
const PART_TEXT = process.env.SSE_PART_TEXT!
const DELTA = process.env.SSE_DELTA!

const clients = new Set<ServerResponse>()
let seq = 0
const frame = (type: string, properties: Record<string, unknown>) =>
  Buffer.from(`data: ${JSON.stringify({ type, properties })}\nid: ${BOOT_ID}:${++seq}\n\n`)

let pending: Buffer[] = []
let flush: NodeJS.Timeout | undefined
const publish = (bytes: Buffer) => {
  pending.push(bytes)
  flush ??= setTimeout(() => {
    flush = undefined
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending)
    pending = []
    for (const res of clients) res.write(chunk)
  }, COALESCE_MS)
}

const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
  res.write(frame("server.connected", { bootId: BOOT_ID }))
  clients.add(res)
  res.on("close", () => clients.delete(res))
})
server.listen(0, "127.0.0.1", () => {
  process.send!({ listening: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
})

let fewest = 0
let wake: (() => void) | undefined
let cpuBefore: NodeJS.CpuUsage | undefined
process.on(
  "message",
  (message: { run?: number; seq?: number; progress?: number; stop?: true; connected?: true; close?: true }) => {
    if (message.progress !== undefined) {
      fewest = message.progress
      wake?.()
    }
    if (message.connected) process.send!({ connected: clients.size })
    if (message.stop) process.send!({ cpu: process.cpuUsage(cpuBefore) })
    if (message.close) {
      server.close()
      process.disconnect()
    }
    if (message.run === undefined) return
    const events = message.run
    seq = message.seq ?? seq
    fewest = 0
    void (async () => {
      cpuBefore = process.cpuUsage()
      for (let i = 0; i < events; i++) {
        while (i - fewest >= WINDOW) await new Promise<void>((resolve) => (wake = resolve))
        publish(
          frame("message.part.updated", {
            part: {
              id: `prt_bench${i}`,
              sessionID: "ses_bench",
              messageID: "msg_bench",
              type: "text",
              text: PART_TEXT,
            },
            delta: DELTA,
          }),
        )
        if (i % BURST === BURST - 1) await nextMacrotask()
      }
      process.send!({ published: events })
    })()
  },
)
