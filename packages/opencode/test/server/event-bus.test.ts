/**
 * The bus's replay buffer: what a client reconnecting with `Last-Event-ID` gets, once the buffer
 * has wrapped many times over, and where an overrun begins exactly.
 */
import { expect, test } from "vitest"
import { EventBus, type SequencedEvent } from "../../src/bus/index.ts"

const publishN = (bus: EventBus, from: number, count: number) => {
  const published: SequencedEvent[] = []
  for (let n = from; n < from + count; n++)
    published.push(bus.publish({ type: "session.idle", properties: { sessionID: `ses_${n}` } }))
  return published
}
const seqs = (replay: ReturnType<EventBus["replaySince"]>) =>
  "events" in replay ? replay.events.map((event) => event.seq) : replay.gap
const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i)

test("after the buffer has wrapped many times, a reconnect gets exactly the events it missed, in order, the same objects", () => {
  const bus = new EventBus("boot_a", 8)
  const published = publishN(bus, 0, 8 * 7 + 3)
  expect(bus.positionId).toBe("boot_a:59")
  // Every id still in the buffer replays the rest; the oldest kept is seq 52.
  for (let last = 51; last <= 59; last++) expect(seqs(bus.replaySince(`boot_a:${last}`))).toEqual(range(last + 1, 59))
  const replay = bus.replaySince("boot_a:55")
  expect("events" in replay && replay.events).toEqual(published.slice(55))
  expect("events" in replay && replay.events[0]).toBe(published[55])
  expect("events" in replay && replay.events.map((event) => event.id)).toEqual(range(56, 59).map((n) => `boot_a:${n}`))
})

test("an id older than the oldest kept event is an overrun, one step past the boundary", () => {
  const bus = new EventBus("boot_a", 8)
  publishN(bus, 0, 20)
  // Kept: 13..20. A client that saw 12 misses nothing kept; one that saw 11 missed 12.
  expect(seqs(bus.replaySince("boot_a:12"))).toEqual(range(13, 20))
  expect(seqs(bus.replaySince("boot_a:11"))).toBe("overrun")
  expect(seqs(bus.replaySince("boot_a:0"))).toBe("overrun")
  // Up to date: nothing to replay, whatever the buffer holds.
  expect(seqs(bus.replaySince("boot_a:20"))).toEqual([])
})

test("before the buffer is full, every event since the start replays; another boot's or a future id is a restart", () => {
  const bus = new EventBus("boot_a", 8)
  expect(seqs(bus.replaySince("boot_a:0"))).toEqual([])
  publishN(bus, 0, 5)
  expect(seqs(bus.replaySince("boot_a:0"))).toEqual(range(1, 5))
  expect(seqs(bus.replaySince("boot_a:3"))).toEqual([4, 5])
  expect(seqs(bus.replaySince("boot_b:3"))).toBe("restart")
  expect(seqs(bus.replaySince("boot_a:6"))).toBe("restart")
  expect(seqs(bus.replaySince("boot_a:-1"))).toBe("restart")
  expect(seqs(bus.replaySince("boot_a:x"))).toBe("restart")
})

test("a publish reaches every subscriber in order, a failing one included, and the buffer keeps its capacity", () => {
  const bus = new EventBus("boot_a", 4)
  const seen: number[] = []
  bus.subscribe(() => {
    throw new Error("subscriber fault")
  })
  const unsubscribe = bus.subscribe((event) => seen.push(event.seq))
  publishN(bus, 0, 10)
  unsubscribe()
  publishN(bus, 10, 2)
  expect(seen).toEqual(range(1, 10))
  expect(seqs(bus.replaySince("boot_a:8"))).toEqual([9, 10, 11, 12])
  expect(seqs(bus.replaySince("boot_a:7"))).toBe("overrun")
})
