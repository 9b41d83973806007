/**
 * A tiny OpenAI-compatible server on loopback whose answers are picked by model name, so one
 * test server can drive provider errors, tool calls with chosen inputs and long streams.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export type FakeHandler = (body: any, req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export interface FakeOpenAI {
  baseUrl: string
  /** Request bodies as received (for asserting what reached the provider). */
  received: any[]
  /** The request headers, in the same order. */
  headers: Record<string, string | string[] | undefined>[]
  close(): Promise<void>
}

export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
}

export function sendEvent(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)
}

export function textChunk(text: string, finish: string | null = null): unknown {
  return { choices: [{ index: 0, delta: { content: text }, finish_reason: finish }] }
}

/** Streams a chunk every `everyMs` until the client goes away. */
export function streamForever(res: ServerResponse, everyMs = 30): void {
  startEventStream(res)
  let n = 0
  const timer = setInterval(() => sendEvent(res, textChunk(`chunk ${++n}\n`)), everyMs)
  res.on("close", () => clearInterval(timer))
}

export async function startFakeOpenAI(models: Record<string, FakeHandler>): Promise<FakeOpenAI> {
  const received: any[] = []
  const headers: Record<string, string | string[] | undefined>[] = []
  const open = new Set<ServerResponse>()
  const server = createServer(async (req, res) => {
    open.add(res)
    res.on("close", () => open.delete(res))
    let raw = ""
    for await (const chunk of req) raw += chunk
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      res.writeHead(400).end("bad json")
      return
    }
    received.push(body)
    headers.push({ ...req.headers })
    const handler = models[body.model]
    if (!handler) {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ error: { message: `no model ${body.model}` } }))
      return
    }
    await handler(body, req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    received,
    headers,
    async close() {
      for (const res of open) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
