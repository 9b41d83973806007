/**
 * `connectEventStream` with a fake EventSource (happy-dom has none). A browser closes an
 * EventSource for good (readyState CLOSED) on a non-200 answer or a wrong content-type: a 401 once
 * the session cookie expires, a 503 while the server restarts. The stream must then reconnect by
 * itself with backoff, resuming from the last event id, and say it is reconnecting meanwhile.
 */
import { createRoot, createSignal } from "solid-js"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { connectEventStream, createEventHub, type EventHub, type EventSourceLike } from "../src/context/events.tsx"

const CONNECTING = 0
const OPEN = 1
const CLOSED = 2

class FakeSource implements EventSourceLike {
  readyState = CONNECTING
  onopen: EventSourceLike["onopen"] = null
  onerror: EventSourceLike["onerror"] = null
  onmessage: EventSourceLike["onmessage"] = null
  closed = false
  private listeners = new Map<string, ((message: MessageEvent<string>) => void)[]>()
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  close() {
    this.closed = true
    this.readyState = CLOSED
  }
  open() {
    this.readyState = OPEN
    this.onopen?.(new Event("open"))
  }
  /** A network drop: the browser retries by itself (CONNECTING). */
  drop() {
    this.readyState = CONNECTING
    this.onerror?.(new Event("error"))
  }
  /** A non-200 answer (401, 503) or a wrong content-type: closed for good. */
  fail() {
    this.readyState = CLOSED
    this.onerror?.(new Event("error"))
  }
  /** A named event, as the server sends them (`event:` absent, so `message`), with its id. */
  send(type: string, properties: unknown, id: string) {
    const message = new MessageEvent("message", { data: JSON.stringify({ type, properties }), lastEventId: id })
    this.onmessage?.(message)
  }
}

function connect(url = "http://127.0.0.1:4096/event?directory=%2Frepo&token=t") {
  const sources: FakeSource[] = []
  const hub: EventHub = createEventHub()
  const [target, setTarget] = createSignal<string | undefined>(url)
  const dispose = createRoot((dispose) => {
    connectEventStream(hub, target, (u) => {
      const source = new FakeSource(u)
      sources.push(source)
      return source
    })
    return dispose
  })
  return { hub, sources, dispose, setTarget, latest: () => sources[sources.length - 1]! }
}

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe("event stream reconnect", () => {
  it("reconnects after the browser closes the stream for good, showing reconnecting meanwhile", () => {
    const { hub, sources, latest, dispose } = connect()
    expect(sources).toHaveLength(1)
    latest().open()
    expect(hub.status()).toBe("open")

    latest().fail()
    expect(hub.status()).toBe("reconnecting")
    expect(sources).toHaveLength(1)

    vi.advanceTimersByTime(999)
    expect(sources).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(sources).toHaveLength(2)
    expect(sources[0]!.closed).toBe(true)
    // Still retrying until the new stream opens.
    expect(hub.status()).toBe("reconnecting")

    latest().open()
    expect(hub.status()).toBe("open")
    dispose()
  })

  it("resumes from the last event id it read, so the server replays or sends server.replay_gap", () => {
    const { sources, latest, dispose, hub } = connect()
    const seen: string[] = []
    hub.subscribe((event) => seen.push(event.type))
    latest().open()
    latest().send("server.connected", { bootId: "boot1" }, "boot1:7")
    latest().send("session.idle", { sessionID: "ses_1" }, "boot1:8")
    expect(seen).toEqual(["server.connected", "session.idle"])
    latest().fail()
    vi.advanceTimersByTime(1000)
    expect(sources).toHaveLength(2)
    const url = new URL(latest().url)
    expect(url.searchParams.get("lastEventId")).toBe("boot1:8")
    // The original query is kept.
    expect(url.searchParams.get("directory")).toBe("/repo")
    expect(url.searchParams.get("token")).toBe("t")
    // A second retry replaces the id rather than adding another.
    latest().send("session.idle", { sessionID: "ses_1" }, "boot1:9")
    latest().fail()
    vi.advanceTimersByTime(2000)
    expect(new URL(latest().url).searchParams.getAll("lastEventId")).toEqual(["boot1:9"])
    dispose()
  })

  it("keeps retrying a stream that keeps failing (a 401), the wait doubling and capped at 30 s", () => {
    const { hub, sources, latest, dispose } = connect()
    latest().fail()
    const waits: number[] = []
    for (let attempt = 0; attempt < 8; attempt++) {
      const before = sources.length
      let waited = 0
      while (sources.length === before && waited < 60_000) {
        vi.advanceTimersByTime(100)
        waited += 100
      }
      expect(sources.length).toBe(before + 1)
      waits.push(waited)
      expect(hub.status()).toBe("reconnecting")
      latest().fail()
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    expect(hub.status()).toBe("reconnecting")
    dispose()
  })

  it("starts the backoff over once a stream opens", () => {
    const { sources, latest, dispose } = connect()
    latest().fail()
    vi.advanceTimersByTime(1000)
    latest().fail()
    vi.advanceTimersByTime(2000)
    expect(sources).toHaveLength(3)
    latest().open()
    latest().fail()
    vi.advanceTimersByTime(1000)
    expect(sources).toHaveLength(4)
    dispose()
  })

  it("stops retrying when the hub's owner is disposed", () => {
    const { hub, sources, latest, dispose } = connect()
    latest().fail()
    expect(hub.status()).toBe("reconnecting")
    dispose()
    expect(hub.status()).toBe("closed")
    vi.advanceTimersByTime(120_000)
    expect(sources).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("stops retrying the old URL when the directory changes, and starts the new one afresh", () => {
    const { sources, latest, dispose, setTarget } = connect()
    latest().send("session.idle", { sessionID: "ses_1" }, "boot1:8")
    latest().fail()
    setTarget("http://127.0.0.1:4096/event?directory=%2Fother&token=t")
    expect(sources).toHaveLength(2)
    expect(sources[0]!.closed).toBe(true)
    expect(new URL(latest().url).searchParams.get("directory")).toBe("/other")
    expect(new URL(latest().url).searchParams.has("lastEventId")).toBe(false)
    vi.advanceTimersByTime(60_000)
    expect(sources).toHaveLength(2)
    dispose()
  })

  it("leaves a dropped connection to the browser's own retry, showing reconnecting", () => {
    const { hub, sources, latest, dispose } = connect()
    latest().open()
    latest().drop()
    expect(hub.status()).toBe("reconnecting")
    vi.advanceTimersByTime(60_000)
    expect(sources).toHaveLength(1)
    latest().open()
    expect(hub.status()).toBe("open")
    dispose()
  })
})
