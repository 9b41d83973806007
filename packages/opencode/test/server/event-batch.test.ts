/**
 * `GET /event` writes what is queued for a client in one chunk per flush: a burst of events
 * published in one tick (a reload closing ten runs publishes dozens) reaches the client in a
 * write or two, not one awaited write per event, in order, each frame exactly as before
 * (`data: <json>` then `id: BOOTID:SEQ`).
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { eventRoutes } from "../../src/server/routes/event.ts"
import { tempDir } from "../harness.ts"

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

test("a burst published in one tick is written in one chunk, in order, each frame as writeSSE wrote it", async () => {
  const app = eventRoutes(host)
  const res = await app.request("/event")
  expect(res.headers.get("content-type")).toBe("text/event-stream")
  const body = res.body!
  const reader = body.getReader()
  const first = new TextDecoder().decode((await reader.read()).value)
  expect(first).toBe(`data: ${JSON.stringify({ type: "server.connected", properties: { bootId: host.bootId } })}\nid: ${host.bus.positionId}\n\n`)
  reader.releaseLock()

  const published = Array.from({ length: 50 }, (_, i) => host.bus.publish({ type: "test.burst", properties: { i, text: "line one\nline two" } } as never))
  const chunks = await readChunks(body, 50)
  expect(chunks.length).toBeLessThanOrEqual(2)
  expect(chunks.join("")).toBe(published.map((event) => `data: ${JSON.stringify({ type: event.type, properties: event.properties })}\nid: ${event.id}\n\n`).join(""))
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
