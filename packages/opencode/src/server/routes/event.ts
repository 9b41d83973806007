/**
 * `GET /event`: the server's events as SSE. Each event's id is `BOOTID:SEQ`; a client that
 * reconnects with `Last-Event-ID` first gets what it missed, or `server.replay_gap`. A client
 * that stops reading is cut off once its queue is full, so it can never hold the server's memory:
 * its socket is destroyed (a write stuck on a full socket would otherwise never return), its
 * subscription dropped, and it may reconnect with `Last-Event-ID` to learn what it missed.
 */
import { Hono } from "hono"
import { streamSSE } from "hono/streaming"
import type { Host } from "../../host.ts"
import { requestDirectory } from "../directory.ts"
import type { SequencedEvent } from "../../bus/index.ts"

/** Events queued for one client before it counts as not reading (default). */
export const MAX_QUEUE = 1000

/** A write pending this long means the client is not reading. */
const STUCK_WRITE_MS = 250
/** The queue may grow to this many times `maxQueue` while writes still complete (a burst). */
const HARD_CAP_FACTOR = 4

/** A `Last-Event-ID` safe to send back as an SSE id (no line breaks, bounded). */
const WELL_FORMED_EVENT_ID = /^[A-Za-z0-9_-]{1,64}:\d{1,15}$/

/** Cut-off clients since start, for tests and diagnostics. */
export const sseStats = { cutOff: 0 }

/**
 * One SSE frame, as Hono's `writeSSE` writes it: the JSON on one `data:` line (JSON.stringify
 * leaves no line break in it), then the id. Ids are `BOOTID:SEQ` or a checked `Last-Event-ID`.
 */
function frame(event: { id?: string; type: string; properties: Record<string, unknown> }): string {
  const data = `data: ${JSON.stringify({ type: event.type, properties: event.properties })}\n`
  return event.id ? `${data}id: ${event.id}\n\n` : `${data}\n`
}

export function eventRoutes(host: Host, options: { maxQueue?: number } = {}): Hono {
  const maxQueue = options.maxQueue ?? MAX_QUEUE
  const app = new Hono()
  app.get("/event", (c) => {
    // Filtered only when the client names a directory; without one, every directory's events.
    const named = c.req.header("x-opencode-directory") || c.req.query("directory")
    const filterKey = named ? requestDirectory(c, "").key : undefined
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId")
    return streamSSE(c, async (stream) => {
      const queue: SequencedEvent[] = []
      let wake: (() => void) | undefined
      let closed = false
      const visible = (event: SequencedEvent) => !filterKey || !event.directoryKey || event.directoryKey === filterKey
      const cutOff = () => {
        if (closed) return
        closed = true
        sseStats.cutOff++
        unsubscribe()
        queue.length = 0
        // The loop below may be stuck in a write to a socket nobody reads: end it from here.
        const outgoing = (c.env as { outgoing?: { destroy?: () => void } } | undefined)?.outgoing
        outgoing?.destroy?.()
        stream.abort()
        wake?.()
      }
      // Not reading: the queue is full while a write has been stuck on the socket, or it reached
      // the hard cap (a burst a reading client could not drain in time is allowed up to that).
      let writingSince: number | undefined
      // Where this stream starts: the client has everything up to here once it is subscribed
      // (read in the same tick as subscribe, so no event falls between the two).
      const position = host.bus.positionId
      const unsubscribe = host.bus.subscribe((event) => {
        if (closed || !visible(event)) return
        if (queue.length >= maxQueue) {
          const stuck = writingSince !== undefined && performance.now() - writingSince > STUCK_WRITE_MS
          if (stuck || queue.length >= maxQueue * HARD_CAP_FACTOR) return cutOff()
        }
        queue.push(event)
        wake?.()
      })
      stream.onAbort(() => {
        closed = true
        unsubscribe()
        wake?.()
      })
      // One write per flush: everything queued goes to the socket as one chunk (a reload that
      // closes ten runs publishes dozens of events at once; an awaited write each would queue
      // the last of them behind as many round trips through the response stream).
      const write = async (text: string) => {
        writingSince = performance.now()
        try {
          await stream.write(text)
        } finally {
          writingSince = undefined
        }
      }
      try {
        const replay = lastEventId ? host.bus.replaySince(lastEventId) : undefined
        // server.connected's id is where a reconnect must resume to miss nothing this stream
        // will send: the client's own id while a replay (or the notice of a gap) is still to
        // come, else the current position.
        const resumeFrom = replay && lastEventId && WELL_FORMED_EVENT_ID.test(lastEventId) ? lastEventId : position
        let text = frame({ id: resumeFrom, type: "server.connected", properties: { bootId: host.bootId } })
        if (replay && lastEventId) {
          if ("gap" in replay) text += frame({ id: position, type: "server.replay_gap", properties: { reason: replay.gap, lastEventId: lastEventId.slice(0, 128) } })
          else {
            const seen = new Set(queue.map((event) => event.seq))
            for (const event of replay.events) if (visible(event) && !seen.has(event.seq)) text += frame(event)
          }
        }
        await write(text)
        while (!closed) {
          if (queue.length > 0) {
            let chunk = ""
            for (const event of queue.splice(0, queue.length)) chunk += frame(event)
            await write(chunk)
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
