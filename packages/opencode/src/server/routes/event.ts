/**
 * `GET /event`: the server's events as SSE. Each event's id is `BOOTID:SEQ`; a client that
 * reconnects with `Last-Event-ID` first gets what it missed, or `server.replay_gap`.
 *
 * A published event is serialised once and its bytes shared by every client it goes to. The
 * clients on sockets share one subscription that collects what is published within a few
 * milliseconds; each of them gets it as one chunk, itself shared by every client that sees the
 * same events. Each
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

/** A client on a socket, as the route's shared window sees it. */
interface SocketClient {
  /** The directory its events are filtered to; undefined for every directory's. */
  filterKey: string | undefined
  /** Where in the current window its events begin (it joined partway through the window). */
  from: number
  /** Its share of the window's weight, counted only while the window may put it over its bound. */
  pending: number
  controller: ReadableStreamDefaultController<Uint8Array>
  /** Its room under the bound now: what more it can be given before it is over. */
  room(): number
  /** Checks its backlog with `pending` more collected for it; cuts it off if it has fallen behind. */
  check(pending: number): void
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

  const unit = maxBytes / maxEvents
  const visibleTo = (filterKey: string | undefined, event: SequencedEvent) =>
    !filterKey || !event.directoryKey || event.directoryKey === filterKey

  // What a streamed answer publishes within a few milliseconds reaches each client on a socket as
  // one chunk (one write, one system call). The clients on sockets share one subscription: each
  // event is collected once into the window, and at the flush each client gets one chunk of the
  // events it sees, itself shared by every client that sees the same ones (every client without a
  // directory filter). Per client there is nothing to do per event, only one enqueue per window.
  const windowed = new Set<SocketClient>()
  let unsubscribeWindow: (() => void) | undefined
  let windowFrames: Buffer[] = []
  let windowEvents: SequencedEvent[] = []
  let windowWeight = 0
  let flush: NodeJS.Timeout | undefined
  // The least room under its bound any client had at the last flush or since it joined. Between
  // flushes nothing is queued to a client's stream and its socket only takes from it, so while the
  // window weighs no more than this, no client can be over its bound and none needs checking.
  let leastRoom = Infinity
  // Once the window weighs more, each client's share of it is counted and checked at every event.
  let checking = false
  /** A chunk's weight in the client's bound: each of its events counted as in `size`. */
  const weights = new WeakMap<Uint8Array, number>()
  const weightOf = (bytes: Buffer) => Math.max(bytes.byteLength, unit)
  /** The weight of the window's events from `from` on that `client` sees. */
  const shareOf = (client: SocketClient, until: number) => {
    let weight = 0
    for (let i = client.from; i < until; i++)
      if (visibleTo(client.filterKey, windowEvents[i]!)) weight += weightOf(windowFrames[i]!)
    return weight
  }
  const flushWindow = () => {
    flush = undefined
    const events = windowEvents
    const frames = windowFrames
    windowEvents = []
    windowFrames = []
    windowWeight = 0
    checking = false
    leastRoom = Infinity
    /** This flush's chunks by the events they hold (where the client joined, its filter); null for none. */
    const chunks = new Map<string, Buffer | null>()
    for (const client of windowed) {
      const key = `${client.from}:${client.filterKey ?? ""}`
      let chunk = chunks.get(key)
      if (chunk === undefined) {
        const seen: Buffer[] = []
        let weight = 0
        for (let i = client.from; i < events.length; i++)
          if (visibleTo(client.filterKey, events[i]!)) {
            seen.push(frames[i]!)
            weight += weightOf(frames[i]!)
          }
        chunk = seen.length === 0 ? null : seen.length === 1 ? seen[0]! : Buffer.concat(seen)
        if (seen.length > 1) weights.set(chunk!, weight)
        chunks.set(key, chunk)
      }
      client.from = 0
      client.pending = 0
      try {
        if (chunk) client.controller.enqueue(chunk)
        leastRoom = Math.min(leastRoom, client.room())
      } catch {
        // A stream closing under this flush must not keep the others from theirs.
      }
    }
  }
  const collect = (event: SequencedEvent) => {
    const bytes = framed(event)
    windowEvents.push(event)
    windowFrames.push(bytes)
    windowWeight += weightOf(bytes)
    flush ??= setTimeout(flushWindow, COALESCE_MS)
    if (windowWeight <= leastRoom) return
    if (!checking) {
      checking = true
      for (const client of windowed) client.pending = shareOf(client, windowEvents.length - 1)
    }
    const at = windowEvents.length - 1
    for (const client of windowed) {
      if (at < client.from || !visibleTo(client.filterKey, event)) continue
      client.pending += weightOf(bytes)
      client.check(client.pending)
    }
  }
  const join = (client: SocketClient) => {
    client.from = windowEvents.length
    windowed.add(client)
    leastRoom = Math.min(leastRoom, client.room())
    // The client's share of a window already counted starts at nothing.
    client.pending = 0
    unsubscribeWindow ??= host.bus.subscribe(collect)
  }
  const leave = (client: SocketClient) => {
    if (!windowed.delete(client) || windowed.size > 0) return
    unsubscribeWindow?.()
    unsubscribeWindow = undefined
    clearTimeout(flush)
    flush = undefined
    windowEvents = []
    windowFrames = []
    windowWeight = 0
    checking = false
    leastRoom = Infinity
  }

  const app = new Hono()
  app.get("/event", (c) => {
    const outgoing = (c.env as { outgoing?: { destroy?: () => void; socket?: Socket | null } } | undefined)?.outgoing
    // Filtered only when the client names a directory; without one, every directory's events.
    const named = c.req.header("x-opencode-directory") || c.req.query("directory")
    const filterKey = named ? requestDirectory(c, "").key : undefined
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId")
    const visible = (event: SequencedEvent) => visibleTo(filterKey, event)
    // The stream's own queue is the client's backlog, measured in bytes, an event counting as at
    // least its share of the byte bound: one measure bounds both bytes and events.
    let closed = false
    let unsubscribe = () => {}
    let overSince: number | undefined
    const end = () => {
      if (closed) return
      closed = true
      unsubscribe()
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
          // The replay is what the client asked for, not a backlog: the bounds apply past it. What
          // of it is over the bound is exempt while it is still queued: it goes out first, so no
          // more of it can be left than the whole queue holds, and the exemption shrinks with it.
          let allowance = Math.max(0, -(controller.desiredSize ?? 0))
          /** The client's backlog: what is queued for it, less the part of its replay still exempt. */
          const backlog = () => {
            const queued = maxBytes - (controller.desiredSize ?? 0)
            if (allowance > queued) allowance = Math.max(0, queued)
            return queued - allowance
          }
          counts.connected++
          /** Checks the client's backlog, `pending` (collected, not yet queued) included, against its bounds. */
          const check = (pending: number) => {
            const over = (backlog() + pending - maxBytes) / maxBytes
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
          }
          // Without a socket (answered in memory) there is no write to save: each event at once.
          if (outgoing?.socket) {
            const client: SocketClient = {
              filterKey,
              from: 0,
              pending: 0,
              controller,
              room: () => maxBytes - backlog(),
              check,
            }
            join(client)
            unsubscribe = () => leave(client)
          } else
            unsubscribe = host.bus.subscribe((event) => {
              if (closed || !visible(event)) return
              controller.enqueue(framed(event))
              check(0)
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
