/**
 * Bounds across requests, over real sockets: the bytes of request bodies held at once (past the
 * budget a body gets 503 with Retry-After before it is read), open connections, and how long a
 * client may take to send its headers and its request (a slowloris is cut in seconds). Other
 * clients keep being served, and long answers (SSE, a prompt that waits for its run) are never cut.
 */
import { readFileSync } from "node:fs"
import http from "node:http"
import net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServer, type RunningServer } from "../../src/server/server.ts"
import { spawnServer, tempDir, waitFor, type SpawnedServer } from "../harness.ts"

const MiB = 1024 * 1024

/** Resident set size of a process, from /proc (Linux), in bytes. */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  if (!match) throw new Error("no VmRSS")
  return Number(match[1]) * 1024
}

function portOf(url: string): number {
  return Number(new URL(url).port)
}

/** A GET on a connection of its own (no pooled keep-alive sockets that would count against the cap). */
function get(url: string, route: string, timeoutMs = 5000): Promise<{ status: number; ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const req = http.get(url + route, { agent: false, headers: { connection: "close" }, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }))
    })
    req.on("timeout", () => req.destroy(new Error("timed out")))
    req.on("error", reject)
  })
}

interface HeldBody {
  socket: net.Socket
  /** The status line and headers, once the server answers. */
  response: Promise<{ status: number; head: string } | undefined>
  closed: Promise<void>
}

/** A POST declaring `declared` bytes that sends `sent` of them and then holds the connection open. */
function holdBody(port: number, route: string, declared: number, sent: number, filler: Buffer): HeldBody {
  const socket = net.connect(port, "127.0.0.1")
  socket.on("error", () => {})
  let received = ""
  const response = new Promise<{ status: number; head: string } | undefined>((resolve) => {
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1")
      const end = received.indexOf("\r\n\r\n")
      if (end >= 0) resolve({ status: Number(received.split(" ")[1]), head: received.slice(0, end).toLowerCase() })
    })
    socket.on("close", () => resolve(undefined))
  })
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
  socket.on("connect", () => {
    socket.write(
      `POST ${route} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`,
    )
    socket.write('{"pad":"')
    socket.write(filler.subarray(0, sent - 8))
  })
  return { socket, response, closed }
}

describe("request bodies in flight across requests (a server process)", () => {
  const BUDGET = 8 * MiB
  const HELD = 300
  let server: SpawnedServer

  beforeAll(async () => {
    server = await spawnServer(tempDir("oc-bounds-data-"), { OPENCODE_BODY_BUDGET_BYTES: String(BUDGET) })
  })
  afterAll(() => {
    server?.proc.kill("SIGKILL")
  })

  it(`${HELD} held 1 MiB bodies: past the budget each gets 503 with Retry-After, RSS stays bounded, and /health is still served`, async () => {
    const pid = server.proc.pid!
    for (let i = 0; i < 20; i++) expect((await get(server.url, "/health")).status).toBe(200)
    const before = rssOf(pid)
    const filler = Buffer.alloc(MiB, "x")
    const held = Array.from({ length: HELD }, () =>
      holdBody(portOf(server.url), "/diagnostics/renderer", MiB, MiB - 16, filler),
    )
    // Each held request's answer (undefined: closed without one) as it comes.
    const results: ({ status: number; head: string } | undefined)[] = []
    for (const h of held) void h.response.then((r) => results.push(r))
    const answered = () => results.length
    // What the server holds: at most the budget's worth of bodies; every other one is answered.
    await waitFor(() => answered() >= HELD - BUDGET / MiB, 30_000).catch(() => {})
    let peak = rssOf(pid)
    const health = await get(server.url, "/health")
    peak = Math.max(peak, rssOf(pid))
    console.log(
      `held bodies: RSS ${(before / MiB).toFixed(0)} MiB before, ${(peak / MiB).toFixed(0)} MiB while ${HELD} x 1 MiB bodies were held (budget ${BUDGET / MiB} MiB); /health in ${health.ms} ms`,
    )
    expect(peak - before).toBeLessThan(128 * MiB)
    expect(health.status).toBe(200)
    expect(health.ms).toBeLessThan(1000)
    // Every body past the budget is answered 503 with Retry-After; the connection may then be
    // closed once its unread body has been dropped for a while, before a busy client read the answer.
    expect(answered()).toBeGreaterThanOrEqual(HELD - BUDGET / MiB)
    const answers = results.filter((r) => r !== undefined)
    expect(answers.length).toBeGreaterThan(0)
    for (const r of answers) {
      expect(r!.status).toBe(503)
      expect(r!.head).toMatch(/\r\nretry-after: \d+/)
    }
    // Letting go of the held bodies gives the budget back.
    for (const h of held) h.socket.destroy()
    await Promise.all(held.map((h) => h.closed))
    await waitFor(async () => {
      const body = JSON.stringify({ actions: [], pad: "x".repeat(512 * 1024) })
      const res = await fetch(server.url + "/diagnostics/renderer", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      })
      return res.status === 200
    }, 10_000)
    // A client that hung up mid-body is not the server's fault: no "internal error" and no stack in its log.
    expect(server.stderr()).not.toContain("internal error")
    expect(server.stderr()).not.toMatch(/^\s+at /m)
  }, 60_000)
})

describe("connections and slow clients (in process, short timeouts)", () => {
  const HEADERS_TIMEOUT = 1000
  const REQUEST_TIMEOUT = 2000
  const MAX_CONNECTIONS = 12
  let running: RunningServer
  let port: number

  beforeAll(async () => {
    running = await startServer({
      port: 0,
      hostname: "127.0.0.1",
      dataDir: tempDir("oc-bounds-inproc-"),
      defaultDirectory: tempDir("oc-bounds-default-"),
      scriptedTickMs: 50,
      env: {},
      headersTimeoutMs: HEADERS_TIMEOUT,
      requestTimeoutMs: REQUEST_TIMEOUT,
      maxConnections: MAX_CONNECTIONS,
    })
    port = portOf(running.url)
  })
  afterAll(async () => {
    await running?.shutdown("api")
  })

  /** A client that sends its request one byte at a time; resolves with how long the server let it live. */
  function trickle(request: string, everyMs: number): { closedAfter: Promise<number>; socket: net.Socket } {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("error", () => {})
    const started = Date.now()
    let i = 0
    const timer = setInterval(() => {
      if (i < request.length && !socket.destroyed) socket.write(request[i++]!)
    }, everyMs)
    const closedAfter = new Promise<number>((resolve) =>
      socket.on("close", () => {
        clearInterval(timer)
        resolve(Date.now() - started)
      }),
    )
    return { closedAfter, socket }
  }

  it("a client trickling its headers is cut within the headers timeout, while others are served", async () => {
    const header = `GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ${"a".repeat(400)}\r\n\r\n`
    const slow = Array.from({ length: 6 }, () => trickle(header, 50))
    const health = await get(running.url, "/health")
    expect(health.status).toBe(200)
    expect(health.ms).toBeLessThan(500)
    const lived = await Promise.race([
      Promise.all(slow.map((s) => s.closedAfter)),
      new Promise<number[]>((resolve) => setTimeout(() => resolve([]), 10_000)),
    ])
    for (const s of slow) s.socket.destroy()
    expect(lived).toHaveLength(6)
    for (const ms of lived) expect(ms).toBeLessThan(HEADERS_TIMEOUT + 1500)
  })

  it("a client trickling its body is cut within the request timeout", async () => {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("error", () => {})
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
    await new Promise((resolve) => socket.once("connect", resolve))
    // The headers at once, then the body a byte at a time, never finishing it.
    socket.write(
      "POST /diagnostics/renderer HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n\r\n",
    )
    socket.write('{"actions":[],"pad":"')
    const started = Date.now()
    const timer = setInterval(() => socket.destroyed || socket.write("x"), 50)
    const lived = await Promise.race([
      closed.then(() => Date.now() - started),
      new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 10_000)),
    ])
    clearInterval(timer)
    socket.destroy()
    expect(lived).toBeGreaterThanOrEqual(HEADERS_TIMEOUT / 2)
    expect(lived).toBeLessThan(REQUEST_TIMEOUT + 1500)
  })

  it("long answers are not cut: an SSE stream and POST /session/:id/message outlive the request timeout", async () => {
    const directory = tempDir("oc-bounds-proj-")
    const events = await fetch(`${running.url}/event`)
    const reader = events.body!.getReader()
    let seen = ""
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        seen += new TextDecoder().decode(value)
      }
    })()
    const headers = { "content-type": "application/json", "x-opencode-directory": encodeURIComponent(directory) }
    const session = (await (await fetch(`${running.url}/session`, { method: "POST", headers, body: "{}" })).json()) as {
      id: string
    }
    const started = Date.now()
    const message = await fetch(`${running.url}/session/${session.id}/message`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        parts: [{ type: "text", text: "hello" }],
        model: { providerID: "scripted", modelID: "slow" },
      }),
    })
    expect(message.status).toBe(200)
    expect(Date.now() - started).toBeGreaterThan(REQUEST_TIMEOUT)
    // The run's end reached the stream opened before it, more than the request timeout later.
    await waitFor(() => seen.includes("run.finished"), 5000)
    await reader.cancel()
    await reading.catch(() => {})
  }, 30_000)

  it("open connections are capped; SSE clients under the cap keep working and a freed slot serves again", async () => {
    const controllers: AbortController[] = []
    try {
      await Promise.all(
        Array.from({ length: MAX_CONNECTIONS }, async () => {
          const controller = new AbortController()
          controllers.push(controller)
          const res = await fetch(`${running.url}/event`, { signal: controller.signal })
          expect(res.status).toBe(200)
          const reader = res.body!.getReader()
          await reader.read()
          // Keep reading, so the stream stays healthy until aborted.
          void (async () => {
            for (;;) if ((await reader.read()).done) return
          })().catch(() => {})
        }),
      )
      // One connection more is refused at once, not queued.
      await expect(get(running.url, "/health", 2000)).rejects.toThrow()
      controllers[0]!.abort()
      await waitFor(
        async () => (await get(running.url, "/health", 2000).catch(() => ({ status: 0 }))).status === 200,
        5000,
      )
    } finally {
      for (const controller of controllers) controller.abort()
    }
  })
})
