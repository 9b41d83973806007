/**
 * 200 `/event` clients that connect and never read, while one long answer streams: the server
 * must keep answering `/health` promptly and its memory must not grow with the number of idle
 * clients. Real sockets against a real server process (its RSS is read from /proc), and an
 * OpenAI-compatible provider on loopback streaming many small chunks (one event each).
 */
import { readFileSync } from "node:fs"
import net from "node:net"
import { afterAll, expect, it } from "vitest"
import { startEventStream, sendEvent, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"
import http from "node:http"
import { spawnServer, startTestServer, tempDir, waitFor, type SpawnedServer, type TestServer } from "../harness.ts"

const IDLE_CLIENTS = 200
/** The long answer: this many chunks of CHUNK_TEXT, a few every couple of milliseconds. */
const CHUNKS = 600
const CHUNK_TEXT = "a long streamed answer, one chunk of it. "

const sockets: net.Socket[] = []
let fake: FakeOpenAI | undefined
let server: SpawnedServer | undefined
let inProcess: TestServer | undefined
afterAll(async () => {
  await inProcess?.close()
  for (const socket of sockets) socket.destroy()
  server?.proc.kill("SIGKILL")
  await fake?.close()
})

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? 0) * 1024
}

/** An /event client that sends its request and then never reads a byte of the answer. */
function idleClient(url: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => {
      socket.write(`GET /event HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`)
      socket.pause()
      resolve(socket)
    })
    socket.on("error", () => {})
    socket.once("error", reject)
    sockets.push(socket)
  })
}

async function call(base: string, method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(base + route, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return res.json()
}

/** Starts a prompt of the long model and resolves once its run has a summary. */
async function longRun(base: string, directory: string): Promise<void> {
  const dir = { "x-opencode-directory": encodeURIComponent(directory), "content-type": "application/json" }
  const session = (await (await fetch(`${base}/session`, { method: "POST", headers: dir, body: "{}" })).json()) as {
    id: string
  }
  const prompt = (await (
    await fetch(`${base}/session/${session.id}/prompt`, {
      method: "POST",
      headers: dir,
      body: JSON.stringify({ text: "go", model: "openai/long" }),
    })
  ).json()) as { runId: string }
  expect(prompt.runId).toMatch(/^run_/)
  await waitFor(
    async () => {
      const runs = (await call(base, "GET", `/session/${session.id}/run`)) as {
        runId: string
        summary?: { classification: string }
      }[]
      const summary = runs.find((run) => run.runId === prompt.runId)?.summary
      if (summary) expect(summary.classification).toBe("completed")
      return summary !== undefined
    },
    120_000,
    50,
  )
}

/** /health's latency, probed back to back while `during` runs. */
async function probing(
  base: string,
  during: () => Promise<void>,
): Promise<{ latencies: number[]; failures: string[] }> {
  const latencies: number[] = []
  const failures: string[] = []
  let running = true
  const prober = (async () => {
    while (running) {
      const started = performance.now()
      try {
        const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(30_000) })
        if (health.status !== 200) failures.push(`status ${health.status}`)
        await health.arrayBuffer()
      } catch (error) {
        failures.push(String((error as Error).cause ?? error))
      }
      latencies.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  try {
    await during()
  } finally {
    running = false
    await prober
  }
  return { latencies, failures }
}

function summary(latencies: number[]): { median: number; p90: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    p90: sorted[Math.floor(sorted.length * 0.9)] ?? 0,
    max: sorted.at(-1) ?? 0,
  }
}

it(
  "200 idle /event clients and a long streamed answer: /health keeps answering promptly (goal 100 ms) and RSS grows less than 50 MB",
  { timeout: 240_000 },
  async () => {
    fake = await startFakeOpenAI({
      long: (_body, _req, res) => {
        startEventStream(res)
        let sent = 0
        const timer = setInterval(() => {
          for (let i = 0; i < 4 && sent < CHUNKS; i++, sent++) sendEvent(res, textChunk(`${sent} ${CHUNK_TEXT}`))
          if (sent >= CHUNKS) {
            clearInterval(timer)
            sendEvent(res, textChunk("", "stop"))
            res.end("data: [DONE]\n\n")
          }
        }, 5)
        res.on("close", () => clearInterval(timer))
      },
    })
    const project = tempDir("oc-proj-")
    server = await spawnServer(
      tempDir("oc-data-"),
      { OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: "sk-test-not-a-real-key" },
      project,
    )
    const base = server.url
    const pid = server.proc.pid!

    // One run with no client first: what the run itself costs (code loaded, caches warm) is not
    // counted, and /health's latency during it is this machine's own under its current load.
    const reference = summary((await probing(base, () => longRun(base, project))).latencies)
    const baseline = rssOf(pid)

    const url = new URL(base)
    await Promise.all(Array.from({ length: IDLE_CLIENTS }, () => idleClient(url)))
    await waitFor(async () => (await call(base, "GET", "/health")).events?.connected >= IDLE_CLIENTS, 30_000)
    // What the connections themselves hold is reported, not bounded: the bound is on what the run adds.
    const connectedRss = rssOf(pid)

    let peak = connectedRss
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50)
    let probed: { latencies: number[]; failures: string[] }
    try {
      probed = await probing(base, () => longRun(base, project))
    } finally {
      clearInterval(sampler)
    }
    const { latencies, failures } = probed
    peak = Math.max(peak, rssOf(pid))
    const { median, p90, max } = summary(latencies)
    const grewMb = (peak - connectedRss) / 2 ** 20
    console.log(
      `idle SSE clients: ${IDLE_CLIENTS}; /health over ${latencies.length} probes: median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, max ${max.toFixed(1)} ms (with no client: median ${reference.median.toFixed(1)} ms, p90 ${reference.p90.toFixed(1)} ms); RSS ${(baseline / 2 ** 20).toFixed(0)} MB, ${(connectedRss / 2 ** 20).toFixed(0)} MB with the clients connected, peak ${(peak / 2 ** 20).toFixed(0)} MB during the run (+${grewMb.toFixed(1)} MB)`,
    )
    const health = await call(base, "GET", "/health")
    console.log(`/health events after the run: ${JSON.stringify(health.events)}`)

    expect(failures, server.stderr().slice(-2000)).toEqual([])
    expect(latencies.length).toBeGreaterThan(3)
    // The goal is 100 ms; the bound leaves room for a 2-core machine shared with other work (the
    // kernel's copying into 200 socket buffers is real work there), or a few times what /health
    // takes on it during the same run with no client. The old server took seconds, and timed out.
    expect(median).toBeLessThan(Math.max(250, 4 * reference.median))
    // No probe waits anywhere near the old server's stalls (tens of seconds, then a reset).
    expect(max).toBeLessThan(10_000)
    expect(grewMb).toBeLessThan(50)
    // Whether these clients get cut off depends on the kernel's socket buffers (a machine with large
    // loopback buffers absorbs the whole answer), so it is not asserted here: the next test fills a
    // client that stopped reading until the server cuts it, whatever the buffers hold.
    expect(health.events.connected + health.events.cutOff).toBeGreaterThanOrEqual(IDLE_CLIENTS)
  },
)

/** An /event client that parses frames; `pause()` stops reading (its socket fills), `resume()` reads on. */
function eventClient(url: string, lastEventId?: string) {
  const frames: { id?: string; type: string; n?: number }[] = []
  let buffer = ""
  let response: http.IncomingMessage | undefined
  let ended = false
  const request = http.get(url, { headers: lastEventId ? { "last-event-id": lastEventId } : {} }, (res) => {
    response = res
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\n")
        buffer = buffer.slice(end + 2)
        const data = lines.find((line) => line.startsWith("data:"))
        const id = lines
          .find((line) => line.startsWith("id:"))
          ?.slice(3)
          .trim()
        if (!data) continue
        const event = JSON.parse(data.slice(5))
        frames.push({
          ...(id ? { id } : {}),
          type: event.type,
          ...(event.type === "test.flood" ? { n: event.properties.n } : {}),
        })
      }
    })
    res.on("error", () => {})
    res.on("close", () => (ended = true))
  })
  request.on("error", () => (ended = true))
  return {
    frames,
    ended: () => ended,
    connected: () => frames.some((frame) => frame.type === "server.connected"),
    pause: () => response?.pause(),
    resume: () => response?.resume(),
    close: () => request.destroy(),
  }
}

it(
  "a client cut off for falling behind reconnects with Last-Event-ID and loses nothing",
  { timeout: 120_000 },
  async () => {
    const s = (inProcess = await startTestServer())
    const bus = s.running.host.bus
    const cutOff = async () => (await s.call("GET", "/health")).body.events.cutOff as number
    const before = await cutOff()
    const slow = eventClient(`${s.url}/event`)
    await waitFor(slow.connected)
    slow.pause()
    const blob = "x".repeat(8 * 1024)
    let published = 0
    // Publish until the server cuts the client that stopped reading; well within the bus's replay buffer.
    while ((await cutOff()) === before) {
      expect(published, "the server never cut off the client that stopped reading").toBeLessThan(1800)
      for (let i = 0; i < 20; i++) bus.publish({ type: "test.flood", properties: { n: published++, blob } } as never)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    // The client reads what reached it before the cut, then resumes from the last id it saw.
    slow.resume()
    await waitFor(slow.ended, 20_000)
    const seen = slow.frames.filter((frame) => frame.type === "test.flood")
    expect(seen.length).toBeLessThan(published)
    const last = [...slow.frames].reverse().find((frame) => frame.id)!.id!
    for (let i = 0; i < 5; i++) bus.publish({ type: "test.flood", properties: { n: published++, blob: "" } } as never)
    const again = eventClient(`${s.url}/event`, last)
    await waitFor(() => again.frames.some((frame) => frame.n === published - 1), 20_000)
    again.close()
    expect(again.frames.some((frame) => frame.type === "server.replay_gap")).toBe(false)
    const all = [...seen, ...again.frames.filter((frame) => frame.type === "test.flood")].map((frame) => frame.n)
    expect(all).toEqual(Array.from({ length: published }, (_, n) => n))
  },
)
