/**
 * A loopback stand-in for a real opencode server as a forwarding target. It speaks opencode's own
 * `/event` protocol; the event shapes and their order are recorded from opencode 1.18.33
 * (`opencode serve`, driven by `prompt_async` with an OpenAI-compatible provider on loopback):
 *
 * - `GET /event` opens with `{ type: "server.connected", properties: {} }` and sends
 *   `{ type: "server.heartbeat", properties: {} }` every 10 s.
 * - `POST /session/:id/prompt_async` answers `204` with no body and no run id; then
 *   `message.updated` (the user message), `session.status { sessionID, status: { type: "busy" } }`,
 *   `message.updated` (the assistant message, `time.created` only), `message.part.updated` (a text
 *   part announced empty) and `message.part.delta` (its text).
 * - A run that finishes: `message.updated` with the assistant's `time.completed` and
 *   `finish: "stop"`, then `session.status` busy, `session.status` idle and `session.idle { sessionID }`.
 * - `POST /instance/dispose` during a run: `message.updated` with the assistant's
 *   `error: { name: "MessageAbortedError", data: { message: "Aborted" } }`, then `session.status`
 *   idle and `session.idle` (before the dispose is announced), then
 *   `server.instance.disposed { directory }`, then the event stream ends.
 *
 * Each event also carries opencode's `id: "evt_…"`; opencode adds `sessionID` beside `info` in
 * `message.updated`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface StubRequest {
  method: string
  path: string
  headers: IncomingMessage["headers"]
}

export interface OpencodeStub {
  url: string
  /** Every request the stub received, in order. */
  requests: StubRequest[]
  /** Open `/event` streams. */
  streams(): number
  /** Sends one event (any shape) to every open stream. */
  emit(event: unknown): void
  /** The session's prompt finishes normally. */
  finish(sessionId: string): void
  /** The stub's instance is disposed mid-run, as `POST /instance/dispose` does in opencode. */
  dispose(directory: string, sessionId?: string): void
  /** Resolves once the session's prompt has streamed its first text part. */
  streamed(sessionId: string): Promise<void>
  /** Keep streams open but send nothing more (no heartbeats either). */
  silence(): void
  close(): Promise<void>
}

let counter = 0
function id(prefix: string): string {
  counter++
  return `${prefix}_2316${Date.now().toString(16)}${String(counter).padStart(4, "0")}stub`
}

export async function startOpencodeStub(): Promise<OpencodeStub> {
  const requests: StubRequest[] = []
  const streams = new Set<ServerResponse>()
  const assistants = new Map<string, { id: string; parentID: string; created: number }>()
  const streamedWaiters = new Map<string, { promise: Promise<void>; resolve: () => void }>()
  const streamedOf = (sessionID: string) => {
    let entry = streamedWaiters.get(sessionID)
    if (!entry) {
      let resolve!: () => void
      const promise = new Promise<void>((r) => (resolve = r))
      streamedWaiters.set(sessionID, (entry = { promise, resolve }))
    }
    return entry
  }
  let silent = false
  const send = (res: ServerResponse, event: Record<string, unknown>) => {
    res.write(`data: ${JSON.stringify({ id: id("evt"), ...event })}\n\n`)
  }
  const emit = (event: unknown) => {
    if (silent) return
    for (const res of streams) send(res, event as Record<string, unknown>)
  }
  const assistantInfo = (sessionID: string, extra: Record<string, unknown> = {}) => {
    const a = assistants.get(sessionID)!
    return {
      id: a.id,
      parentID: a.parentID,
      role: "assistant",
      mode: "build",
      agent: "build",
      path: { cwd: "/tmp/project", root: "/" },
      cost: 0,
      tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } },
      modelID: "slow",
      providerID: "stub",
      time: { created: a.created, ...(extra.completed ? { completed: extra.completed } : {}) },
      sessionID,
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.finish ? { finish: extra.finish } : {}),
    }
  }
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://stub")
    requests.push({ method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers })
    for await (const _ of req) {
      // drain the body
    }
    if (req.method === "GET" && url.pathname === "/event") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" })
      streams.add(res)
      res.on("close", () => streams.delete(res))
      send(res, { type: "server.connected", properties: {} })
      const beat = setInterval(() => !silent && send(res, { type: "server.heartbeat", properties: {} }), 10_000)
      res.on("close", () => clearInterval(beat))
      return
    }
    if (req.method === "POST" && url.pathname === "/session") {
      const now = Date.now()
      const sessionId = `ses_dce9${now.toString(16)}${String(++counter).padStart(6, "0")}StubSn`
      res.writeHead(200, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          id: sessionId,
          slug: "stub-session",
          projectID: "global",
          directory: "/tmp/project",
          title: "New session",
          version: "1.18.33",
          time: { created: now, updated: now },
        }),
      )
      return
    }
    const prompt = /^\/session\/(ses_[A-Za-z0-9_-]+)\/prompt_async$/.exec(url.pathname)
    if (req.method === "POST" && prompt) {
      const sessionID = prompt[1]!
      res.writeHead(204).end()
      const userId = id("msg")
      const created = Date.now()
      assistants.set(sessionID, { id: id("msg"), parentID: userId, created })
      setTimeout(() => {
        emit({
          type: "message.updated",
          properties: {
            sessionID,
            info: {
              id: userId,
              role: "user",
              sessionID,
              time: { created },
              agent: "build",
              model: { providerID: "stub", modelID: "slow" },
            },
          },
        })
        emit({ type: "session.status", properties: { sessionID, status: { type: "busy" } } })
        emit({ type: "message.updated", properties: { sessionID, info: assistantInfo(sessionID) } })
        const a = assistants.get(sessionID)!
        // As opencode 1.18 streams: the text part is announced empty, its text then arrives as deltas.
        const partID = id("prt")
        emit({
          type: "message.part.updated",
          properties: {
            sessionID,
            part: { id: partID, sessionID, messageID: a.id, type: "text", text: "", time: { start: Date.now() } },
            time: Date.now(),
          },
        })
        emit({
          type: "message.part.delta",
          properties: { sessionID, messageID: a.id, partID, field: "text", delta: "tick 1 " },
        })
        streamedOf(sessionID).resolve()
      }, 20)
      return
    }
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ name: "NotFoundError", data: { message: "not found" } }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    streams: () => streams.size,
    emit,
    finish(sessionID) {
      const info = assistantInfo(sessionID, { completed: Date.now(), finish: "stop" })
      emit({ type: "message.updated", properties: { sessionID, info } })
      emit({ type: "session.status", properties: { sessionID, status: { type: "busy" } } })
      emit({ type: "session.status", properties: { sessionID, status: { type: "idle" } } })
      emit({ type: "session.idle", properties: { sessionID } })
    },
    dispose(directory, sessionID) {
      if (sessionID && assistants.has(sessionID)) {
        emit({
          type: "message.updated",
          properties: {
            sessionID,
            info: assistantInfo(sessionID, {
              completed: Date.now(),
              error: { name: "MessageAbortedError", data: { message: "Aborted" } },
            }),
          },
        })
        emit({ type: "session.status", properties: { sessionID, status: { type: "idle" } } })
        emit({ type: "session.idle", properties: { sessionID } })
      }
      emit({ type: "server.instance.disposed", properties: { directory } })
      for (const res of streams) res.end()
    },
    streamed(sessionID) {
      return streamedOf(sessionID).promise
    },
    silence() {
      silent = true
    },
    async close() {
      for (const res of streams) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
