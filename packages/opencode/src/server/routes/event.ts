/**
 * `GET /event`: the server's events as SSE. Each event's id is `BOOTID:SEQ`; a client that
 * reconnects with `Last-Event-ID` first gets what it missed, or `server.replay_gap`. A client
 * that stops reading is cut off once its queue is full, so it can never hold the server's memory.
 */
import { Hono } from "hono"
import { streamSSE } from "hono/streaming"
import type { Host } from "../../host.ts"
import { decodeDirectoryParam, directoryKey, validateProjectDirectory } from "../../project/directory-key.ts"
import type { SequencedEvent } from "../event-bus.ts"

const MAX_QUEUE = 1000

export function eventRoutes(host: Host): Hono {
  const app = new Hono()
  app.get("/event", (c) => {
    const rawDirectory = c.req.header("x-opencode-directory") ? decodeDirectoryParam(c.req.header("x-opencode-directory")!) : c.req.query("directory")
    const filterKey = rawDirectory ? directoryKey(validateProjectDirectory(rawDirectory)) : undefined
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId")
    return streamSSE(c, async (stream) => {
      const queue: SequencedEvent[] = []
      let wake: (() => void) | undefined
      let overflow = false
      const visible = (event: SequencedEvent) => !filterKey || !event.directoryKey || event.directoryKey === filterKey
      const unsubscribe = host.bus.subscribe((event) => {
        if (!visible(event)) return
        if (queue.length >= MAX_QUEUE) overflow = true
        else queue.push(event)
        wake?.()
      })
      let closed = false
      stream.onAbort(() => {
        closed = true
        wake?.()
      })
      const send = (event: { id?: string; type: string; properties: Record<string, unknown> }) =>
        stream.writeSSE({ ...(event.id ? { id: event.id } : {}), data: JSON.stringify({ type: event.type, properties: event.properties }) })
      try {
        await send({ type: "server.connected", properties: { bootId: host.bootId } })
        if (lastEventId) {
          const replay = host.bus.replaySince(lastEventId)
          if ("gap" in replay) await send({ type: "server.replay_gap", properties: { reason: replay.gap, lastEventId: lastEventId.slice(0, 128) } })
          else {
            const seen = new Set(queue.map((event) => event.seq))
            for (const event of replay.events) if (visible(event) && !seen.has(event.seq)) await send(event)
          }
        }
        while (!closed) {
          if (overflow) {
            await send({ type: "server.replay_gap", properties: { reason: "overrun", lastEventId: "" } })
            break
          }
          const next = queue.shift()
          if (next) {
            await send(next)
            continue
          }
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
        }
      } finally {
        unsubscribe()
      }
    })
  })
  return app
}
