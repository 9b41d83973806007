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
  private readonly buffer: SequencedEvent[] = []
  private readonly listeners = new Set<Listener>()

  constructor(
    readonly bootId: string,
    private readonly capacity = 2048,
  ) {}

  publish(event: BusEvent): SequencedEvent {
    const seq = ++this.seq
    const sequenced: SequencedEvent = { ...event, seq, id: `${this.bootId}:${seq}` }
    this.buffer.push(sequenced)
    if (this.buffer.length > this.capacity) this.buffer.splice(0, this.buffer.length - this.capacity)
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
    const first = this.buffer[0]
    if (seq < this.seq && (!first || first.seq > seq + 1)) return { gap: "overrun" }
    return { events: this.buffer.filter((event) => event.seq > seq) }
  }
}
