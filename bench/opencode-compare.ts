/**
 * Benchmark 6: this server against opencode itself (`opencode-ai` from npm, the version below),
 * both as their real commands on this machine, on the same routes and load:
 *
 *   - `GET /session` with 5 sessions, then with 1 000 (each answers its default page of 100),
 *   - `POST /session`,
 *   - prompt → first streamed part at an SSE client on `/event`, both servers on one loopback
 *     OpenAI-compatible stub (ours through `OPENAI_BASE_URL`, opencode through a provider in
 *     `OPENCODE_CONFIG_CONTENT`).
 *
 * The binary is installed into `bench/.cache/opencode` (gitignored) the first time this part runs,
 * never by `npm test`; `OPENCODE_REFERENCE_BIN` names one already on disk. When it cannot be had
 * (offline), the part reports `{ skipped: reason }`.
 *
 *   BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WARMUP_S   per route (default 5 rounds, 4 s, 1 s)
 *   BENCH_PROMPTS                                     prompt samples per server (default 60)
 */
import autocannon from "autocannon"
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import path from "node:path"
import { BENCH_DIR, cpuMicros, median, percentile, report, round, ROOT, tempDir } from "./lib.ts"

export const OPENCODE_VERSION = "1.18.33"
const CACHE = path.join(BENCH_DIR, ".cache", "opencode")
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const DURATION = Number(process.env.BENCH_DURATION_S ?? 4)
const WARMUP = Number(process.env.BENCH_WARMUP_S ?? 1)
const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 60)
/** The stub's first streamed token: what the SSE client waits for (no prompt contains it). */
const FIRST = "STUBFIRST"
const log = (msg: string) => process.stdout.write(`${msg}\n`)

/** The opencode binary: `OPENCODE_REFERENCE_BIN`, else the cached install, installed now if missing. */
function opencodeBinary(): { bin: string } | { skipped: string } {
  const fromEnv = process.env.OPENCODE_REFERENCE_BIN
  if (fromEnv)
    return existsSync(fromEnv) ? { bin: fromEnv } : { skipped: `OPENCODE_REFERENCE_BIN=${fromEnv} does not exist` }
  const platform = process.platform === "win32" ? "windows" : process.platform
  const candidates = [`opencode-${platform}-${process.arch}`, `opencode-${platform}-${process.arch}-baseline`].map(
    (pkg) => path.join(CACHE, "node_modules", pkg, "bin", "opencode"),
  )
  const found = () => candidates.find((file) => existsSync(file))
  if (!found()) {
    log(`installing opencode-ai@${OPENCODE_VERSION} into ${path.relative(ROOT, CACHE)} (once)`)
    mkdirSync(CACHE, { recursive: true })
    try {
      execFileSync(
        "npm",
        [
          "install",
          "--prefix",
          CACHE,
          "--no-save",
          "--no-audit",
          "--no-fund",
          "--loglevel=error",
          `opencode-ai@${OPENCODE_VERSION}`,
        ],
        { stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 },
      )
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split("\n").at(-1)
      return { skipped: `npm could not install opencode-ai@${OPENCODE_VERSION} (${stderr || (err as Error).message})` }
    }
  }
  const bin = found()
  if (!bin) return { skipped: `opencode-ai@${OPENCODE_VERSION} installed no binary for ${platform}-${process.arch}` }
  return { bin }
}

/** A loopback OpenAI-compatible stub: every chat completion streams `STUBFIRST`, then a second chunk and the end. */
async function startStub(): Promise<{ baseUrl: string; requests: () => number; close: () => void }> {
  let requests = 0
  const send = (res: ServerResponse, data: unknown) =>
    res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)
  const chunk = (model: string, delta: object, finish: string | null) => ({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })
  const server = createServer(async (req, res) => {
    let raw = ""
    for await (const part of req) raw += part
    if (!req.url?.includes("chat/completions"))
      return void res.writeHead(404, { "content-type": "application/json" }).end("{}")
    requests++
    let model = "bench"
    let stream = true
    try {
      const body = JSON.parse(raw) as { model?: string; stream?: boolean }
      model = body.model ?? model
      stream = body.stream !== false
    } catch {
      // a body we cannot read still gets an answer
    }
    if (!stream) {
      res.writeHead(200, { "content-type": "application/json" })
      return void res.end(
        JSON.stringify({
          id: "chatcmpl-bench",
          object: "chat.completion",
          created: 1,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: `${FIRST} title` }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
        }),
      )
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    send(res, chunk(model, { role: "assistant", content: FIRST }, null))
    send(res, chunk(model, { content: " and the rest." }, null))
    send(res, { ...chunk(model, {}, "stop"), usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })
    send(res, "[DONE]")
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests: () => requests,
    close: () => server.close(),
  }
}

interface Target {
  name: "ours" | "opencode"
  child: ChildProcess
  url: string
  project: string
  /** The prompt body's model, in each server's own naming for the stub. */
  model: { providerID: string; modelID: string }
}

function waitForListening(child: ChildProcess, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 120 s`)), 120_000)
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited ${code} before listening`))
    })
  })
}

async function startOurs(stubUrl: string): Promise<Target> {
  const project = tempDir("oc-bench-cmp-ours-")
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "packages/opencode/bin/opencode.mjs"),
      "serve",
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--data-dir",
      tempDir("oc-bench-cmp-data-"),
      "--directory",
      project,
    ],
    {
      cwd: project,
      env: { ...process.env, OPENAI_BASE_URL: stubUrl, OPENAI_API_KEY: "bench" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  )
  return {
    name: "ours",
    child,
    url: await waitForListening(child, "ours"),
    project,
    model: { providerID: "openai", modelID: "bench" },
  }
}

async function startOpencode(bin: string, stubUrl: string): Promise<Target> {
  const home = tempDir("oc-bench-cmp-home-")
  const project = tempDir("oc-bench-cmp-oc-")
  const config = {
    autoupdate: false,
    share: "disabled",
    provider: {
      stub: {
        npm: "@ai-sdk/openai-compatible",
        name: "Stub",
        options: { baseURL: stubUrl, apiKey: "bench" },
        models: { bench: { name: "bench" } },
      },
    },
    model: "stub/bench",
    small_model: "stub/bench",
  }
  const env = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: path.join(home, "data"),
    XDG_CONFIG_HOME: path.join(home, "config"),
    XDG_CACHE_HOME: path.join(home, "cache"),
    XDG_STATE_HOME: path.join(home, "state"),
    OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
  }
  const child = spawn(bin, ["serve", "--port", "0", "--hostname", "127.0.0.1"], {
    cwd: project,
    env,
    stdio: ["ignore", "pipe", "ignore"],
  })
  return {
    name: "opencode",
    child,
    url: await waitForListening(child, "opencode"),
    project,
    model: { providerID: "stub", modelID: "bench" },
  }
}

const headersOf = (t: Target) => ({
  "x-opencode-directory": encodeURIComponent(t.project),
  "content-type": "application/json",
})

async function call(t: Target, method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(t.url + route, {
    method,
    headers: headersOf(t),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${t.name} ${method} ${route}: ${res.status} ${text.slice(0, 200)}`)
  return text ? JSON.parse(text) : undefined
}

async function createSessions(t: Target, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await call(t, "POST", "/session", { title: `bench ${i}` })
}

async function load(t: Target, method: "GET" | "POST", route: string, seconds: number, measure: boolean) {
  const before = measure ? cpuMicros(t.child.pid) : undefined
  const result = await autocannon({
    url: t.url + route,
    method,
    connections: 10,
    duration: seconds,
    headers: headersOf(t),
    ...(method === "POST" ? { body: "{}" } : {}),
  })
  const after = measure ? cpuMicros(t.child.pid) : undefined
  const total = result.requests.total
  return {
    rps: total / seconds,
    cpuUsPerRequest: before !== undefined && after !== undefined && total > 0 ? (after - before) / total : NaN,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }
}

/** One route on both servers: `ROUNDS` rounds, the order reversed every round; CPU per request is the median over rounds. */
async function compareRoute(targets: Target[], name: string, method: "GET" | "POST", route: string) {
  const samples: Record<string, { rps: number; cpuUsPerRequest: number; errors: number; non2xx: number }[]> = {
    ours: [],
    opencode: [],
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      await load(t, method, route, WARMUP, false)
      const s = await load(t, method, route, DURATION, true)
      samples[t.name]!.push(s)
      log(
        `${name} ${t.name} round ${r + 1}: ${Math.round(s.rps)} req/s, ${round(s.cpuUsPerRequest, 1)} µs CPU/request${s.non2xx || s.errors ? ` (${s.non2xx} non-2xx, ${s.errors} errors)` : ""}`,
      )
    }
  }
  const summary = (list: (typeof samples)["ours"]) => ({
    rps: Math.round(list.reduce((a, s) => a + s.rps, 0) / list.length),
    cpuUs: round(median(list.map((s) => s.cpuUsPerRequest)), 1),
    failed: list.reduce((a, s) => a + s.non2xx + s.errors, 0),
    rounds: list.map((s) => ({ rps: Math.round(s.rps), cpuUs: round(s.cpuUsPerRequest, 1) })),
  })
  return { route: name, ours: summary(samples.ours!), opencode: summary(samples.opencode!) }
}

/** An SSE reader on `/event`: resolves waiters on the first frame whose data matches. */
function eventStream(t: Target) {
  const controller = new AbortController()
  const waiters: { match: (data: string) => boolean; resolve: (at: number) => void }[] = []
  const ready = fetch(`${t.url}/event`, {
    headers: { ...headersOf(t), accept: "text/event-stream" },
    signal: controller.signal,
  }).then((res) => {
    void (async () => {
      const decoder = new TextDecoder()
      let buffer = ""
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const now = performance.now()
          buffer += decoder.decode(chunk, { stream: true })
          let end: number
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const frame = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            for (let i = waiters.length - 1; i >= 0; i--) {
              if (waiters[i]!.match(frame)) {
                waiters[i]!.resolve(now)
                waiters.splice(i, 1)
              }
            }
          }
        }
      } catch {
        // aborted at the end
      }
    })()
  })
  return {
    ready,
    wait(match: (data: string) => boolean, timeoutMs = 20_000): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${t.name}: no matching event within ${timeoutMs} ms`)),
          timeoutMs,
        )
        waiters.push({ match, resolve: (at) => (clearTimeout(timer), resolve(at)) })
      })
    },
    close: () => controller.abort(),
  }
}

/** Prompt → first streamed part: `prompt_async` sent, until the stub's first token reaches the SSE client; then the run is let finish. */
async function comparePrompt(targets: Target[]) {
  const streams = new Map(targets.map((t) => [t.name, eventStream(t)]))
  for (const s of streams.values()) await s.ready
  await new Promise((r) => setTimeout(r, 200))
  const sessions = new Map<string, string>()
  for (const t of targets)
    sessions.set(t.name, ((await call(t, "POST", "/session", { title: "prompt bench" })) as { id: string }).id)
  const samples: Record<string, number[]> = { ours: [], opencode: [] }
  const warmup = 3
  for (let i = 0; i < PROMPTS + warmup; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      const id = sessions.get(t.name)!
      const stream = streams.get(t.name)!
      const first = stream.wait((frame) => frame.includes(id) && frame.includes(FIRST))
      const idle = stream.wait(
        (frame) =>
          frame.includes(id) &&
          (frame.includes('"session.idle"') || (frame.includes('"session.status"') && frame.includes('"idle"'))),
      )
      const sent = performance.now()
      await call(t, "POST", `/session/${id}/prompt_async`, {
        parts: [{ type: "text", text: `say something (${i})` }],
        model: t.model,
      })
      const at = await first
      await idle
      if (i >= warmup) samples[t.name]!.push(at - sent)
    }
  }
  for (const s of streams.values()) s.close()
  const stats = (list: number[]) => {
    const sorted = [...list].sort((a, b) => a - b)
    return {
      samples: list.length,
      p50: round(percentile(sorted, 50), 2),
      p95: round(percentile(sorted, 95), 2),
      max: round(sorted.at(-1) ?? NaN, 2),
    }
  }
  return { ours: stats(samples.ours!), opencode: stats(samples.opencode!) }
}

const binary = opencodeBinary()
if ("skipped" in binary) {
  log(`skipped: ${binary.skipped}`)
  report({ skipped: binary.skipped })
  process.exit(0)
}
const version = execFileSync(binary.bin, ["--version"], {
  encoding: "utf8",
  env: { ...process.env, OPENCODE_DISABLE_AUTOUPDATE: "1" },
}).trim()
const stub = await startStub()
const targets = [await startOurs(stub.baseUrl), await startOpencode(binary.bin, stub.baseUrl)]
try {
  const rows = []
  for (const t of targets) await createSessions(t, 5)
  // Both servers start cold: warm each one's JIT on the routes before anything is measured.
  for (const t of targets) await load(t, "GET", "/session", 3, false)
  const countSessions = async () =>
    Object.fromEntries(
      await Promise.all(targets.map(async (t) => [t.name, ((await call(t, "GET", "/session")) as unknown[]).length])),
    )
  const rows5 = await countSessions()
  rows.push({
    ...(await compareRoute(targets, "GET /session, 5 sessions", "GET", "/session")),
    sessions: 5,
    rowsAnswered: rows5,
  })
  for (const t of targets) await createSessions(t, 995)
  const rows1000 = await countSessions()
  rows.push({
    ...(await compareRoute(targets, "GET /session, 1000 sessions", "GET", "/session")),
    sessions: 1000,
    rowsAnswered: rows1000,
  })
  rows.push(await compareRoute(targets, "POST /session", "POST", "/session"))
  const prompt = await comparePrompt(targets)
  report({ version, rows, prompt, stubRequests: stub.requests() })
} finally {
  for (const t of targets) t.child.kill("SIGTERM")
  stub.close()
}
process.exit(0)
