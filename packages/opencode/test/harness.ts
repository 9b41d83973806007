/**
 * Test harness: the server with a temporary data dir and project directories, answered in memory
 * (`startApp`: the same app and wiring, no socket), on loopback in-process (`startTestServer`,
 * for what is about the socket: SSE clients, connection limits, timeouts, the peer's user) or as
 * a child process (`spawnServer`, for signals and kills).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, realpathSync, rmSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import type { EventBus } from "../src/bus/index.ts"
import type { SignInOptions } from "../src/server/app.ts"
import { createServerCore, startServer, type RunningServer, type ServeOptions } from "../src/server/server.ts"

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/opencode.mjs")

export function tempDir(prefix = "oc-test-"): string {
  return realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)))
}

export interface TestServer {
  /** The server's URL; in memory, the origin the app answers as (nothing listens there: use `fetch`). */
  url: string
  dataDir: string
  running: RunningServer
  /** `fetch` to this server: the network's for a socket, the app's in memory. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** A new empty project directory. */
  project(): string
  /** fetch against the server with the directory header and JSON handling. */
  call(
    method: string,
    route: string,
    opts?: { directory?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>
  close(): Promise<void>
}

export interface TestServerOptions {
  tickMs?: number
  watchdogMs?: number
  settleTimeoutMs?: number
  dataDir?: string
  env?: Record<string, string | undefined>
  token?: string
  signIn?: SignInOptions
}

const cleanups: (() => void)[] = []

/** The server on a loopback socket (port 0), for tests about the socket. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { dataDir, defaultDirectory, serveOptions } = testServeOptions(options)
  const running = await startServer({ ...serveOptions, port: 0 })
  return testServer(options, dataDir, defaultDirectory, running, (input, init) => fetch(input, init))
}

/**
 * The same server answered in memory (`createServerCore`'s `request`): no port, no socket, as
 * the server's own user on loopback. For every test the socket is not what it is about.
 */
export async function startApp(options: TestServerOptions = {}): Promise<TestServer> {
  const { dataDir, defaultDirectory, serveOptions } = testServeOptions(options)
  const core = await createServerCore(serveOptions)
  const running: RunningServer = {
    url: core.origin,
    host: core.host,
    peerUserMode: core.peerUserMode,
    shutdown: (signal) => core.shutdown(signal),
    signInUrl: () => core.signInUrl(core.origin),
  }
  return testServer(options, dataDir, defaultDirectory, running, core.request)
}

function testServeOptions(options: TestServerOptions) {
  const dataDir = options.dataDir ?? tempDir("oc-data-")
  const defaultDirectory = tempDir("oc-default-")
  const serveOptions: Omit<ServeOptions, "port"> = {
    hostname: "127.0.0.1",
    dataDir,
    defaultDirectory,
    scriptedTickMs: options.tickMs ?? 20,
    watchdogMs: options.watchdogMs ?? 60_000,
    settleTimeoutMs: options.settleTimeoutMs ?? 3000,
    env: { ...options.env },
    token: options.token,
    ...(options.signIn ? { signIn: options.signIn } : {}),
  }
  return { dataDir, defaultDirectory, serveOptions }
}

function testServer(
  options: TestServerOptions,
  dataDir: string,
  defaultDirectory: string,
  running: RunningServer,
  serverFetch: TestServer["fetch"],
): TestServer {
  const projects: string[] = [defaultDirectory]
  return {
    url: running.url,
    dataDir,
    running,
    fetch: serverFetch,
    project() {
      const dir = tempDir("oc-proj-")
      projects.push(dir)
      return dir
    },
    async call(method, route, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) }
      if (opts.directory) headers["x-opencode-directory"] = encodeURIComponent(opts.directory)
      if (opts.body !== undefined) headers["content-type"] = "application/json"
      if (options.token && !headers.authorization) headers.authorization = `Bearer ${options.token}`
      const res = await serverFetch(running.url + route, {
        method,
        headers,
        ...(opts.body !== undefined
          ? { body: typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body) }
          : {}),
      })
      const text = await res.text()
      let body: unknown = text
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        body = text
      }
      return { status: res.status, body, headers: res.headers }
    },
    async close() {
      await running.shutdown("api").catch(() => {})
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
      for (const dir of projects) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** App-client headers for an action the renderer names. */
export function appHeaders(
  actionName: string,
  actionId = `act_${Math.random().toString(36).slice(2, 12)}`,
): Record<string, string> {
  return { "x-opencode-client": "app/0.1.0", "x-opencode-action-id": actionId, "x-opencode-action-name": actionName }
}

/** Creates a session in `directory` and starts a run of `model`; resolves once the run has visible output (or started, for silent models). */
export async function startRun(
  server: TestServer,
  directory: string,
  model = "scripted/slow",
  opts: { waitForOutput?: boolean } = {},
): Promise<{ sessionId: string; runId: string }> {
  const session = await server.call("POST", "/session", { directory, body: {} })
  if (session.status !== 200) throw new Error(`create session: ${session.status} ${JSON.stringify(session.body)}`)
  const sessionId = session.body.id as string
  const prompt = await server.call("POST", `/session/${sessionId}/prompt`, {
    directory,
    body: { text: "PROMPT-CANARY do the thing", model },
  })
  if (prompt.status !== 200) throw new Error(`prompt: ${prompt.status} ${JSON.stringify(prompt.body)}`)
  const runId = prompt.body.runId as string
  if (opts.waitForOutput !== false) {
    await waitFor(async () => {
      const messages = await server.call("GET", `/session/${sessionId}/message`)
      return (messages.body as any[]).some(
        (m) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
      )
    })
  }
  return { sessionId, runId }
}

/** The run's summary once it has one. */
export async function finishedRun(
  server: TestServer,
  sessionId: string,
  runId: string,
  timeoutMs = 10_000,
): Promise<any> {
  let summary: any
  await waitFor(async () => {
    const runs = await server.call("GET", `/session/${sessionId}/run`)
    summary = (runs.body as any[]).find((run) => run.runId === runId)?.summary
    return summary !== undefined
  }, timeoutMs)
  return summary
}

export async function incidentOf(server: TestServer, sessionId: string, runId: string): Promise<any> {
  const incidents = await server.call("GET", `/session/${sessionId}/incident`)
  return (incidents.body as any[]).find((chain) => chain.runId === runId)
}

/** A JSON call to a server given by its URL (a spawned one), with the directory header when named. */
export async function callServer(
  url: string,
  method: string,
  route: string,
  directory?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {}
  if (directory) headers["x-opencode-directory"] = encodeURIComponent(directory)
  if (body !== undefined) headers["content-type"] = "application/json"
  const res = await fetch(url + route, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

/** A `data` listener for an SSE response read as text: `onEvent` gets each frame's data, parsed, and its id. */
export function sseFrames(onEvent: (event: any, id: string | undefined) => void): (chunk: string) => void {
  let buffer = ""
  return (chunk) => {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = /^data: ?(.*)$/m.exec(block)?.[1]
      if (data) onEvent(JSON.parse(data), /^id: ?(.*)$/m.exec(block)?.[1])
    }
  }
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}

/** Waits until `count()` stops changing (the same at two checks `stepMs` apart); returns it. */
export async function untilSettled(count: () => number, timeoutMs = 5000, stepMs = 100): Promise<number> {
  let before = -1
  await waitFor(
    () => {
      const now = count()
      const settled = now === before
      before = now
      return settled
    },
    timeoutMs,
    stepMs,
  )
  return before
}

export interface SpawnedServer {
  url: string
  proc: ChildProcess
  stderr(): string
  exited: Promise<number | null>
}

/** The real CLI in a child process (for SIGTERM, SIGKILL and restart tests). */
export async function spawnServer(
  dataDir: string,
  env: Record<string, string> = {},
  directory?: string,
): Promise<SpawnedServer> {
  const proc = spawn(
    process.execPath,
    [BIN, "serve", "--port", "0", "--data-dir", dataDir, ...(directory ? ["--directory", directory] : [])],
    {
      env: { ...process.env, OPENCODE_SCRIPTED_TICK_MS: "20", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  )
  let out = ""
  let err = ""
  proc.stderr!.on("data", (chunk) => (err += chunk))
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20_000)
    proc.stdout!.on("data", (chunk) => {
      out += chunk
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    proc.on("exit", () => reject(new Error(`server exited: ${err}`)))
  })
  cleanups.push(() => proc.kill("SIGKILL"))
  return { url, proc, stderr: () => err, exited }
}

/**
 * Counts the bus's live subscriptions made from now on: each subscription once, however often
 * its unsubscribe is called. What an SSE client holds while connected, and must let go of.
 *
 * @example const live = countSubscriptions(host.bus); ...; expect(live()).toBe(0)
 */
export function countSubscriptions(bus: EventBus): () => number {
  const subscribe = bus.subscribe.bind(bus)
  let live = 0
  bus.subscribe = (listener) => {
    live++
    const unsubscribe = subscribe(listener)
    let done = false
    return () => {
      if (!done) live--
      done = true
      unsubscribe()
    }
  }
  return () => live
}
