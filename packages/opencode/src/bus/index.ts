/**
 * The event bus behind `/event`: each event gets an SSE id `BOOTID:SEQ`, and the last few
 * thousand are kept so a client reconnecting with `Last-Event-ID` gets what it missed, or a
 * `server.replay_gap` event naming why it cannot (buffer overrun, or another boot). `publish`
 * takes only the events `provenance/wire.ts` defines, with their properties' types.
 */
import type { EventType, ServerEvent } from "../provenance/wire.ts"

/** Sent to one connection only, never published: `/event` writes them itself. */
type ConnectionEvent = "server.connected" | "server.replay_gap"
type PublishedType = Exclude<EventType, ConnectionEvent>

/** An event as published: a wire event, and the directory it belongs to (`/event?directory=`); absent for server events. */
type BusEvent = Extract<ServerEvent, { type: PublishedType }> & { directoryKey?: string | undefined }

export type SequencedEvent = BusEvent & {
  id: string
  seq: number
}

type Listener = (event: SequencedEvent) => void

export class EventBus {
  private seq = 0
  /**
   * The last `capacity` events, a ring: the event of seq `n` is at `(n - 1) % capacity` while it
   * is kept. Dropping the oldest is overwriting it, so a publish costs the same however full the
   * buffer is (an array's `splice(0, 1)` moved every kept event, about 10 µs at 2048 of them).
   */
  private readonly buffer: SequencedEvent[] = []
  private readonly listeners = new Set<Listener>()

  constructor(
    readonly bootId: string,
    private readonly capacity = 2048,
  ) {}

  publish(event: BusEvent): SequencedEvent {
    const seq = ++this.seq
    const sequenced: SequencedEvent = { ...event, seq, id: `${this.bootId}:${seq}` }
    this.buffer[(seq - 1) % this.capacity] = sequenced
    for (const listener of this.listeners) {
      try {
        listener(sequenced)
      } catch {
        // A failing subscriber must not stop the others or the publisher.
      }
    }
    return sequenced
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * The id of the latest event published (`BOOTID:0` before any): what a client that has seen
   * everything so far resumes from. `/event` gives it to per-connection events such as
   * `server.connected`, which are not published to others but still need an id.
   */
  get positionId(): string {
    return `${this.bootId}:${this.seq}`
  }

  /**
   * What a client that last saw `lastEventId` missed: the events after it, or a gap.
   *
   * @example bus.replaySince("boot_x:41") // { events: [...] } or { gap: "overrun" }
   */
  replaySince(lastEventId: string): { events: SequencedEvent[] } | { gap: "overrun" | "restart" } {
    const [boot, seqText] = lastEventId.split(":")
    const seq = Number(seqText)
    if (boot !== this.bootId) return { gap: "restart" }
    if (!Number.isInteger(seq) || seq < 0 || seq > this.seq) return { gap: "restart" }
    // The oldest kept is the one after the last `capacity`; the client needs every one after `seq`.
    const oldest = Math.max(1, this.seq - this.capacity + 1)
    if (seq + 1 < oldest) return { gap: "overrun" }
    const events: SequencedEvent[] = []
    for (let n = seq + 1; n <= this.seq; n++) events.push(this.buffer[(n - 1) % this.capacity]!)
    return { events }
  }
}
