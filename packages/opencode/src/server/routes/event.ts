/**
 * `GET /event`: the server's events as SSE. Each event's id is `BOOTID:SEQ`; a client that
 * reconnects with `Last-Event-ID` first gets what it missed, or `server.replay_gap`.
 *
 * A published event is serialised once and its bytes shared by every client it goes to; a client
 * on a socket collects what is published within a few milliseconds and gets it as one chunk,
 * itself shared by every client that collected the same run of events. Each
 * client's backlog (what is queued for it and not yet taken by its socket) is bounded in bytes,
 * an event counting at least its share of the bound, so in events too: past the bound while its
 * socket takes nothing for a while, or past four times it, the client has fallen behind and is
 * cut off at once (its socket destroyed, its subscription dropped). It reconnects with
 * `Last-Event-ID` and gets what it missed from the bus's replay buffer, which the bound keeps
 * within.
 */
import type { Socket } from "node:net"
import { Hono } from "hono"
import type { Host } from "../../host.ts"
import { requestDirectory } from "../directory.ts"
import type { SequencedEvent } from "../../bus/index.ts"

/** Bytes queued for one client and not yet taken by its socket, past which it has fallen behind. */
const MAX_CLIENT_BYTES = 1024 * 1024
/** Events queued for one client, past which it has fallen behind: a quarter of the bus's replay buffer, so a reconnect finds them. */
const MAX_CLIENT_EVENTS = 512
/** A client over a bound whose socket took nothing for this long is not reading. */
const STALLED_MS = 1000
/** A burst a reading client could not drain in time may reach this many times a bound. */
const BURST_FACTOR = 4

/** How long a client's socket collects events before they go out in one write. */
const COALESCE_MS = 10

/** Frames of the latest events, kept so the clients an event goes to share one serialisation. */
const SHARED_FRAMES = 64

/** A `Last-Event-ID` safe to send back as an SSE id (no line breaks, bounded). */
const WELL_FORMED_EVENT_ID = /^[A-Za-z0-9_-]{1,64}:\d{1,15}$/

/** `/event`'s clients, for `/health`: connected now, and cut off for falling behind since start. */
interface EventClientCounts {
  connected: number
  cutOff: number
}

export function newEventClientCounts(): EventClientCounts {
  return { connected: 0, cutOff: 0 }
}

/**
 * One SSE frame, as Hono's `writeSSE` writes it: the JSON on one `data:` line (JSON.stringify
 * leaves no line break in it), then the id. Ids are `BOOTID:SEQ` or a checked `Last-Event-ID`.
 */
function frame(event: { id?: string; type: string; properties: Record<string, unknown> }): Buffer {
  const data = `data: ${JSON.stringify({ type: event.type, properties: event.properties })}\n`
  return Buffer.from(event.id ? `${data}id: ${event.id}\n\n` : `${data}\n`)
}

export function eventRoutes(
  host: Host,
  options: { counts?: EventClientCounts; maxClientBytes?: number; maxClientEvents?: number } = {},
): Hono {
  const counts = options.counts ?? newEventClientCounts()
  const maxBytes = options.maxClientBytes ?? MAX_CLIENT_BYTES
  const maxEvents = options.maxClientEvents ?? MAX_CLIENT_EVENTS
  // Every client's listener runs in the same publish: the first serialises, the rest reuse it.
  const shared = new Map<number, Buffer>()
  const framed = (event: SequencedEvent): Buffer => {
    let bytes = shared.get(event.seq)
    if (!bytes) {
      bytes = frame(event)
      shared.set(event.seq, bytes)
      if (shared.size > SHARED_FRAMES) shared.delete(shared.keys().next().value!)
    }
    return bytes
  }

  // What a streamed answer publishes within a few milliseconds reaches each client on a socket as
  // one chunk (one write, one system call): per client per event there is only a push, not a
  // stream read, an HTTP chunk and a socket write each. Clients that collected the same run of
  // events (every client without a directory filter) share one concatenation.
  const collecting = new Set<() => void>()
  let flush: NodeJS.Timeout | undefined
  const collect = (deliver: () => void) => {
    collecting.add(deliver)
    flush ??= setTimeout(() => {
      flush = undefined
      runs.clear()
      for (const each of collecting) each()
      collecting.clear()
    }, COALESCE_MS)
  }
  /** This flush's chunks by the run of consecutive events they hold (`firstSeq:lastSeq`). */
  const runs = new Map<string, Buffer>()
  /** A chunk's weight in the client's bound: each of its events counted as in `size`. */
  const weights = new WeakMap<Uint8Array, number>()
  const chunkOf = (frames: Buffer[], first: number, last: number, weight: number): Buffer => {
    if (frames.length === 1) return frames[0]!
    const consecutive = last - first + 1 === frames.length
    let chunk = consecutive ? runs.get(`${first}:${last}`) : undefined
    if (!chunk) {
      chunk = Buffer.concat(frames)
      if (consecutive) runs.set(`${first}:${last}`, chunk)
      weights.set(chunk, weight)
    }
    return chunk
  }

  const app = new Hono()
  app.get("/event", (c) => {
    const outgoing = (c.env as { outgoing?: { destroy?: () => void; socket?: Socket | null } } | undefined)?.outgoing
    // Filtered only when the client names a directory; without one, every directory's events.
    const named = c.req.header("x-opencode-directory") || c.req.query("directory")
    const filterKey = named ? requestDirectory(c, "").key : undefined
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId")
    const visible = (event: SequencedEvent) => !filterKey || !event.directoryKey || event.directoryKey === filterKey
    // The stream's own queue is the client's backlog, measured in bytes, an event counting as at
    // least its share of the byte bound: one measure bounds both bytes and events.
    const unit = maxBytes / maxEvents
    let closed = false
    let unsubscribe = () => {}
    let overSince: number | undefined
    /** Events collected for this client's next chunk, and their weight in its bound. */
    let pending: Buffer[] = []
    let pendingFirst = 0
    let pendingLast = 0
    let pendingWeight = 0
    const end = () => {
      if (closed) return
      closed = true
      unsubscribe()
      pending = []
      counts.connected--
    }
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          const replay = lastEventId ? host.bus.replaySince(lastEventId) : undefined
          // Where this stream starts: the client has everything up to here once it is subscribed
          // (read in the same tick as subscribe, so no event falls between the two).
          const position = host.bus.positionId
          // server.connected's id is where a reconnect must resume to miss nothing this stream
          // will send: the client's own id while a replay (or the notice of a gap) is still to
          // come, else the current position.
          const resumeFrom = replay && lastEventId && WELL_FORMED_EVENT_ID.test(lastEventId) ? lastEventId : position
          controller.enqueue(frame({ id: resumeFrom, type: "server.connected", properties: { bootId: host.bootId } }))
          if (replay && lastEventId) {
            if ("gap" in replay)
              controller.enqueue(
                frame({
                  id: position,
                  type: "server.replay_gap",
                  properties: { reason: replay.gap, lastEventId: lastEventId.slice(0, 128) },
                }),
              )
            else for (const event of replay.events) if (visible(event)) controller.enqueue(frame(event))
          }
          // The replay is what the client asked for, not a backlog: the bounds apply past it.
          const allowance = Math.max(0, -(controller.desiredSize ?? 0))
          counts.connected++
          const deliver = () => {
            if (closed || pending.length === 0) return
            controller.enqueue(chunkOf(pending, pendingFirst, pendingLast, pendingWeight))
            pending = []
            pendingWeight = 0
          }
          unsubscribe = host.bus.subscribe((event) => {
            if (closed || !visible(event)) return
            // Without a socket (answered in memory) there is no write to save: each event at once.
            if (outgoing?.socket) {
              if (pending.length === 0) {
                collect(deliver)
                pendingFirst = event.seq
              }
              const bytes = framed(event)
              pending.push(bytes)
              pendingLast = event.seq
              pendingWeight += Math.max(bytes.byteLength, unit)
            } else controller.enqueue(framed(event))
            const over = (allowance - (controller.desiredSize ?? 0) + pendingWeight) / maxBytes
            if (over <= 0) return
            const now = performance.now()
            overSince ??= now
            if (over > BURST_FACTOR - 1 || now - overSince > STALLED_MS) {
              // Fallen behind: end it here (a write stuck on a full socket would never return).
              counts.cutOff++
              end()
              // Its socket destroyed, the response's reader cancels this stream and what it queued.
              outgoing?.destroy?.()
            }
          })
        },
        // Called only while the backlog is under the bound: the socket is taking what it is given.
        pull() {
          overSince = undefined
        },
        cancel() {
          end()
        },
      },
      { highWaterMark: maxBytes, size: (chunk) => weights.get(chunk) ?? Math.max(chunk.byteLength, unit) },
    )
    return c.body(body, 200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    })
  })
  return app
}
