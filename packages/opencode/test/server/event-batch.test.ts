/**
 * `GET /event` serialises an event once and hands every client the same bytes; a burst published
 * in one tick (a reload closing ten runs publishes dozens) reaches a client's socket in a write or
 * two, not one per event, in order, each frame exactly as before (`data: <json>` then
 * `id: BOOTID:SEQ`).
 */
import http from "node:http"
import net from "node:net"
import { afterEach, beforeEach, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import type { SequencedEvent } from "../../src/bus/index.ts"
import { directoryKey } from "../../src/project/directory-key.ts"
import { eventRoutes } from "../../src/server/routes/event.ts"
import { startTestServer, tempDir, waitFor } from "../harness.ts"

let host: Host
beforeEach(() => {
  host = createHost({ dataDir: tempDir("oc-data-"), env: {} })
})
afterEach(() => {
  host.close()
})

/** Reads the body chunk by chunk (one chunk per write into the stream) until `frames` frames arrived. */
async function readChunks(body: ReadableStream<Uint8Array>, frames: number): Promise<string[]> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const chunks: string[] = []
  let seen = 0
  while (seen < frames) {
    const { done, value } = await reader.read()
    if (done) break
    const text = decoder.decode(value)
    chunks.push(text)
    seen += text.split("\n\n").length - 1
  }
  await reader.cancel()
  return chunks
}

test("an event is serialised once: every client gets the same bytes, in order, each frame as writeSSE wrote it", async () => {
  const app = eventRoutes(host)
  const bodies = await Promise.all([app.request("/event"), app.request("/event")].map(async (res) => (await res).body!))
  const readers = bodies.map((body) => body.getReader())
  for (const reader of readers) {
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toBe(
      `data: ${JSON.stringify({ type: "server.connected", properties: { bootId: host.bootId } })}\nid: ${host.bus.positionId}\n\n`,
    )
  }
  const published = Array.from({ length: 50 }, (_, i) =>
    host.bus.publish({ type: "test.burst", properties: { i, text: "line one\nline two" } } as never),
  )
  const received: Uint8Array[][] = [[], []]
  for (const [n, reader] of readers.entries()) {
    for (let i = 0; i < published.length; i++) received[n]!.push((await reader.read()).value!)
    await reader.cancel()
  }
  // The same memory, not equal copies: one serialisation however many clients there are.
  for (let i = 0; i < published.length; i++) expect(received[0]![i]).toBe(received[1]![i])
  expect(new TextDecoder().decode(Buffer.concat(received[0]!))).toBe(
    published
      .map(
        (event) => `data: ${JSON.stringify({ type: event.type, properties: event.properties })}\nid: ${event.id}\n\n`,
      )
      .join(""),
  )
})

test("events published a turn of the event loop apart reach a client's socket in one write, not one per event", async () => {
  const s = await startTestServer()
  try {
    let text = ""
    const url = new URL(s.url)
    const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () =>
      socket.write(`GET /event HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`),
    )
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => (text += chunk))
    socket.on("error", () => {})
    await waitFor(() => text.includes("server.connected"))
    // Counts the writes the server's end of this connection hands the system (each is one call).
    let writes = 0
    const proto = net.Socket.prototype as unknown as Record<
      "_write" | "_writev",
      (this: net.Socket, ...args: unknown[]) => unknown
    >
    const original = { _write: proto._write, _writev: proto._writev }
    for (const name of ["_write", "_writev"] as const) {
      proto[name] = function (this: net.Socket, ...args: unknown[]) {
        if (this.remotePort === socket.localPort) writes++
        return original[name].apply(this, args)
      }
    }
    try {
      // One event a turn of the event loop, as a streamed answer's deltas arrive.
      const published: { id: string }[] = []
      for (let i = 0; i < 20; i++) {
        published.push(s.running.host.bus.publish({ type: "test.delta", properties: { i } } as never))
        await new Promise((resolve) => setImmediate(resolve))
      }
      await waitFor(() => text.includes(`id: ${published.at(-1)!.id}\n\n`))
    } finally {
      Object.assign(proto, original)
      socket.destroy()
    }
    expect(writes).toBeGreaterThan(0)
    expect(writes).toBeLessThanOrEqual(2)
  } finally {
    await s.close()
  }
})

test("events published while a chunk is being written follow it in order", async () => {
  const app = eventRoutes(host)
  const res = await app.request("/event")
  const body = res.body!
  const reader = body.getReader()
  await reader.read() // server.connected
  reader.releaseLock()
  const published = [host.bus.publish({ type: "test.a", properties: {} } as never)]
  // A second burst one macrotask later, while the first chunk may still be in flight.
  await new Promise((resolve) => setImmediate(resolve))
  for (let i = 0; i < 10; i++) published.push(host.bus.publish({ type: "test.b", properties: { i } } as never))
  const chunks = await readChunks(body, 11)
  const ids = [...chunks.join("").matchAll(/^id: (.*)$/gm)].map((m) => m[1])
  expect(ids).toEqual(published.map((event) => event.id))
})

test("clients on sockets, one filtered to a directory, each get exactly their events' frames, in order, across several flushes", async () => {
  const s = await startTestServer()
  try {
    const project = tempDir("oc-project-")
    const other = tempDir("oc-other-")
    const open = (query: string) => {
      const client = { text: "" }
      const req = http.get(`${s.url}/event${query}`, { agent: false }, (res) => {
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (client.text += chunk))
      })
      req.on("error", () => {})
      return { client, req }
    }
    const clients = [open(""), open(""), open(`?directory=${encodeURIComponent(project)}`)]
    await waitFor(() => clients.every(({ client }) => client.text.includes("server.connected")))
    const start = clients.map(({ client }) => client.text.length)
    const keys = [directoryKey(project), directoryKey(other), undefined]
    const published: SequencedEvent[] = []
    // Bursts a macrotask apart and pauses longer than a flush, as a streamed answer publishes.
    for (let burst = 0; burst < 12; burst++) {
      for (let i = 0; i < 25; i++) {
        const directoryKey = keys[(burst * 25 + i) % 3]
        published.push(
          s.running.host.bus.publish({
            type: "test.delta",
            properties: { burst, i, text: "x".repeat(i * 40) },
            ...(directoryKey ? { directoryKey } : {}),
          } as never),
        )
      }
      await new Promise((resolve) => (burst % 3 === 2 ? setTimeout(resolve, 15) : setImmediate(resolve)))
    }
    const frames = (events: SequencedEvent[]) =>
      events.map((e) => `data: ${JSON.stringify({ type: e.type, properties: e.properties })}\nid: ${e.id}\n\n`).join("")
    const everyone = frames(published)
    const projectOnly = frames(published.filter((e) => !e.directoryKey || e.directoryKey === keys[0]))
    const expected = [everyone, everyone, projectOnly]
    await waitFor(() => clients.every(({ client }, n) => client.text.length - start[n]! >= expected[n]!.length))
    for (const [n, { client, req }] of clients.entries()) {
      expect(client.text.slice(start[n])).toBe(expected[n])
      req.destroy()
    }
  } finally {
    await s.close()
  }
})
