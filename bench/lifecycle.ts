/**
 * Benchmark 2: lifecycle event latency. The real server (`serve-full.ts`, its own process) with
 * 100 active `scripted/slow` runs (100 sessions over 10 project directories, one run each, a 1 s
 * tick so they stay active). Each sample: send `POST /instance/reload` for one directory (closing
 * its 10 runs) and time until `lifecycle.action.finished` for that action arrives at an SSE client
 * on `/event`; then restart that directory's 10 runs, so every reload sees 100 active runs.
 * The SSE leg alone (published on the server's bus → arrived at the client) is compared with a
 * bare SSE echo in the same server process (written → arrived), one echo after each reload.
 */
import { spawn } from "node:child_process"
import path from "node:path"
import { BENCH_DIR, percentile, report, round, tempDir } from "./lib.ts"

const SAMPLES = Number(process.env.BENCH_RELOADS ?? 200)
/** Wall-clock time in ms with sub-ms precision, comparable with the server process's stamps. */
const now = () => performance.timeOrigin + performance.now()
const DIRS = 10
const PER_DIR = 10

const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "serve-full.ts")], {
  env: { ...process.env, BENCH_TICK_MS: "1000" },
  stdio: ["ignore", "pipe", "inherit"],
})
const { url, echoUrl } = await new Promise<{ url: string; echoUrl: string }>((resolve, reject) => {
  let out = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString()
    const line = out.split("\n").find((l) => l.startsWith("BENCH_READY "))
    if (line) resolve(JSON.parse(line.slice(12)) as { url: string; echoUrl: string })
  })
  child.once("exit", (code) => reject(new Error(`server exited ${code}`)))
})

async function call(method: string, route: string, directory: string, body?: unknown): Promise<Response> {
  const res = await fetch(url + route, {
    method,
    headers: {
      "x-opencode-directory": encodeURIComponent(directory),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`)
  return res
}

// The SSE client: arrival time of every lifecycle.action.finished, by lifecycle id.
const finishedAt = new Map<string, number>()
/** The same arrival, as wall-clock time (for the SSE leg against the server's publish stamp). */
const arrivedAt = new Map<string, number>()
/** Frames received so far, and the count when each lifecycle.action.finished arrived (to see what queued ahead of it). */
let frames = 0
/** Characters of those frames, and the count when each lifecycle.action.finished arrived. */
let bytes = 0
const bytesAt = new Map<string, number>()
const framesAt = new Map<string, number>()
const waiters = new Map<string, () => void>()
const sse = new AbortController()
const events = await fetch(`${url}/event`, { signal: sse.signal })
void (async () => {
  const decoder = new TextDecoder()
  let buffer = ""
  try {
    for await (const chunk of events.body as unknown as AsyncIterable<Uint8Array>) {
      const arrived = performance.now()
      const arrivedWall = now()
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        frames++
        bytes += frame.length + 2
        const data = frame.split("\n").find((line) => line.startsWith("data:"))
        if (!data || !data.includes("lifecycle.action.finished")) continue
        const event = JSON.parse(data.slice(5)) as { type: string; properties: { action: { lifecycleId: string } } }
        if (event.type !== "lifecycle.action.finished") continue
        finishedAt.set(event.properties.action.lifecycleId, arrived)
        arrivedAt.set(event.properties.action.lifecycleId, arrivedWall)
        framesAt.set(event.properties.action.lifecycleId, frames)
        bytesAt.set(event.properties.action.lifecycleId, bytes - frame.length - 2)
        waiters.get(event.properties.action.lifecycleId)?.()
      }
    }
  } catch {
    // aborted at the end
  }
})()

/** Set while the reloads are sampled (the setup's own reloads are not). */
let measuring = false
// The bare echo's client: each frame's SSE leg (written by the server → arrived here), for the
// frames sent on their own after each reload ("quiet") and those sent as each finished event was
// published ("published").
const echoLegs: number[] = []
const echoAtPublishLegs: number[] = []
let echoWaiter: (() => void) | undefined
const echoStream = await fetch(`${echoUrl}/events`, { signal: sse.signal })
void (async () => {
  const decoder = new TextDecoder()
  let buffer = ""
  try {
    for await (const chunk of echoStream.body as unknown as AsyncIterable<Uint8Array>) {
      const arrivedWall = now()
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (!frame.startsWith("data:")) continue
        const echo = JSON.parse(frame.slice(5)) as { at: number; moment: "quiet" | "published" }
        if (echo.moment === "published") {
          if (measuring) echoAtPublishLegs.push(arrivedWall - echo.at)
          continue
        }
        echoLegs.push(arrivedWall - echo.at)
        echoWaiter?.()
      }
    }
  } catch {
    // aborted at the end
  }
})()
const echoOnce = async () => {
  const arrived = new Promise<void>((resolve) => (echoWaiter = resolve))
  await (await fetch(`${echoUrl}/echo`, { method: "POST" })).arrayBuffer()
  await arrived
}

const dirs = Array.from({ length: DIRS }, () => tempDir("oc-bench-lc-"))
const sessions = new Map<string, string[]>()
for (const dir of dirs) {
  const ids: string[] = []
  for (let i = 0; i < PER_DIR; i++)
    ids.push(((await (await call("POST", "/session", dir, { title: `bench ${i}` })).json()) as { id: string }).id)
  sessions.set(dir, ids)
}
const startRuns = async (dir: string) => {
  await Promise.all(
    sessions
      .get(dir)!
      .map((id) => call("POST", `/session/${id}/prompt_async`, dir, { text: "keep going", model: "scripted/slow" })),
  )
}
const activeRuns = async () => {
  let n = 0
  for (const dir of dirs) n += Object.keys((await (await call("GET", "/session/status", dir)).json()) as object).length
  return n
}
for (const dir of dirs) await startRuns(dir)
const activeAtStart = await activeRuns()
await new Promise((r) => setTimeout(r, 1500)) // every run is streaming

const latencies: number[] = []
const responseMs: number[] = []
const lifecycleIds: string[] = []
const framesAhead: number[] = []
const bytesAhead: number[] = []
const activeBefore: number[] = []
measuring = true
for (let i = 0; i < SAMPLES; i++) {
  const dir = dirs[i % DIRS]!
  if (i % 10 === 0) activeBefore.push(await activeRuns())
  const framesBefore = frames
  const bytesBefore = bytes
  const sent = performance.now()
  const res = await call("POST", "/instance/reload", dir)
  const answered = performance.now()
  const lifecycleId = res.headers.get("x-opencode-lifecycle-id")!
  await res.arrayBuffer()
  if (!finishedAt.has(lifecycleId)) await new Promise<void>((resolve) => waiters.set(lifecycleId, resolve))
  latencies.push(finishedAt.get(lifecycleId)! - sent)
  responseMs.push(answered - sent)
  lifecycleIds.push(lifecycleId)
  framesAhead.push(framesAt.get(lifecycleId)! - framesBefore - 1)
  bytesAhead.push(bytesAt.get(lifecycleId)! - bytesBefore)
  await echoOnce()
  await startRuns(dir)
  await new Promise((r) => setTimeout(r, 100))
}
measuring = false
const activeAtEnd = await activeRuns()
const published = (await (await fetch(`${echoUrl}/published`)).json()) as Record<string, number>
const sseLegs = lifecycleIds.flatMap((id) =>
  published[id] !== undefined && arrivedAt.has(id) ? [arrivedAt.get(id)! - published[id]!] : [],
)
sse.abort()
child.kill("SIGTERM")
const sorted = [...latencies].sort((a, b) => a - b)
function legStats(legs: number[]) {
  const list = [...legs].sort((a, b) => a - b)
  return {
    samples: list.length,
    p50: round(percentile(list, 50), 3),
    p95: round(percentile(list, 95), 3),
    max: round(list.at(-1) ?? NaN, 3),
  }
}
const sortedResponse = [...responseMs].sort((a, b) => a - b)
report({
  samples: latencies.length,
  activeAtStart,
  activeBefore,
  activeAtEnd,
  p50: round(percentile(sorted, 50), 1),
  p95: round(percentile(sorted, 95), 1),
  max: round(sorted.at(-1)!, 1),
  responseP50: round(percentile(sortedResponse, 50), 1),
  responseP95: round(percentile(sortedResponse, 95), 1),
  all: latencies.map((ms) => round(ms, 1)),
  sseLeg: legStats(sseLegs),
  framesAheadP50: percentile(
    [...framesAhead].sort((a, b) => a - b),
    50,
  ),
  echoLeg: legStats(echoLegs),
  echoAtPublishLeg: legStats(echoAtPublishLegs),
  bytesAheadP50: percentile(
    [...bytesAhead].sort((a, b) => a - b),
    50,
  ),
})
