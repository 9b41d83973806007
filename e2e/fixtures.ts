/**
 * Playwright fixtures for the end-to-end tests.
 *
 * `server`  — a fresh `opencode serve --port 0 --data-dir <temp>` per test, killed and its
 *             temp dirs removed afterwards. `server.url` is the base URL (no trailing slash).
 * `project` — `await project()` makes a fresh temp project directory (absolute, realpath).
 * `spawnServer` — `await spawnServer({ env })` starts another independent server (its own data
 *             dir; same options as `server`), e.g. a remote workspace; stopped after the test.
 *
 * Options (set with `test.use({ ... })`):
 *   scriptedTickMs — OPENCODE_SCRIPTED_TICK_MS for the server (undefined = inherit the
 *                    harness env, else the server's default pacing). E.g. "50".
 *   serverEnv      — extra env for the server process (a value of undefined removes a var).
 *   serverArgs     — extra CLI args appended after `serve --port 0 --data-dir DIR`.
 *
 * `snap(page, testInfo, name)` saves a full-page screenshot into testInfo.outputPath and
 * attaches it to the report.
 */
import { test as base, expect, type Page, type TestInfo } from "@playwright/test"
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** The CLI to start; OPENCODE_E2E_BIN points the suite at another build of it. */
export const OPENCODE_BIN = process.env.OPENCODE_E2E_BIN || path.join(REPO_ROOT, "packages/opencode/bin/opencode.mjs")
const LISTENING = /opencode server listening on (https?:\/\/\S+)/
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000

export interface ServerExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ServerOptions {
  /** Extra env for this start (merged over the fixture's env). */
  env?: Record<string, string | undefined>
  /** Extra CLI args for this start (replaces the fixture's serverArgs when given). */
  args?: string[]
  /** restart(): reuse the previous port (default true), so open pages can reconnect. */
  samePort?: boolean
}

export interface Server {
  /** Base URL, e.g. http://127.0.0.1:43123 (updated by restart()). */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** The directory the server was started in (its default project directory). */
  readonly cwd: string
  /** The current server process (replaced by restart()). */
  readonly proc: ChildProcess
  /** Everything the current process printed so far. */
  stdout(): string
  stderr(): string
  /** Send a signal (default SIGTERM) and wait for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<ServerExit>
  /** Stop (SIGTERM) if running, then start again on the same data dir (and port). */
  restart(options?: ServerOptions): Promise<void>
  /** Start again after stop(), on the same data dir (and port). */
  start(options?: ServerOptions): Promise<void>
  /** fetch() relative to the server URL; `directory` sets x-opencode-directory. */
  fetch(pathname: string, init?: RequestInit & { directory?: string }): Promise<Response>
}

interface Fixtures {
  server: Server
  project: () => string
  /** Starts another independent server (own data dir), stopped after the test. */
  spawnServer: (options?: { env?: Record<string, string | undefined>; args?: string[] }) => Promise<Server>
}

interface Options {
  scriptedTickMs: string | undefined
  serverEnv: Record<string, string | undefined>
  serverArgs: string[]
}

function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(path.join(tmpdir(), prefix)))
}

function exited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null
}

function waitExit(proc: ChildProcess): Promise<ServerExit> {
  if (exited(proc)) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode })
  return new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })))
}

interface Started {
  proc: ChildProcess
  url: string
  out: { stdout: string; stderr: string }
}

async function startServer(opts: {
  dataDir: string
  cwd: string
  port: number
  args: string[]
  env: Record<string, string | undefined>
}): Promise<Started> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v
  const argv = [OPENCODE_BIN, "serve", "--port", String(opts.port), "--data-dir", opts.dataDir, ...opts.args]
  const proc = spawn(process.execPath, argv, { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] })
  const out = { stdout: "", stderr: "" }
  proc.stdout!.setEncoding("utf8")
  proc.stderr!.setEncoding("utf8")
  proc.stderr!.on("data", (chunk: string) => (out.stderr += chunk))

  const url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer)
      if (!exited(proc)) proc.kill("SIGKILL")
      reject(
        new Error(
          `opencode server ${why}\n  command: node ${argv.join(" ")}\n` +
            `--- stdout ---\n${out.stdout.trim()}\n--- stderr ---\n${out.stderr.trim()}`,
        ),
      )
    }
    const timer = setTimeout(
      () => fail(`did not print its listening line within ${START_TIMEOUT_MS / 1000} s`),
      START_TIMEOUT_MS,
    )
    proc.stdout!.on("data", (chunk: string) => {
      out.stdout += chunk
      const m = LISTENING.exec(out.stdout)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!.replace(/\/+$/, ""))
      }
    })
    proc.once("error", (err) => fail(`failed to spawn: ${err.message}`))
    proc.once("exit", (code, signal) => {
      if (!LISTENING.test(out.stdout)) fail(`exited before listening (code ${code}, signal ${signal})`)
    })
  })
  return { proc, url, out }
}

async function stopProc(proc: ChildProcess, signal: NodeJS.Signals): Promise<ServerExit> {
  if (exited(proc)) return { code: proc.exitCode, signal: proc.signalCode }
  const done = waitExit(proc)
  proc.kill(signal)
  const timer = setTimeout(() => {
    if (!exited(proc)) proc.kill("SIGKILL")
  }, STOP_TIMEOUT_MS)
  try {
    return await done
  } finally {
    clearTimeout(timer)
  }
}

export const test = base.extend<Fixtures & Options>({
  scriptedTickMs: [undefined, { option: true }],
  serverEnv: [{}, { option: true }],
  serverArgs: [[], { option: true }],

  project: async ({}, use) => {
    const dirs: string[] = []
    await use(() => {
      const dir = tempDir("oc-e2e-project-")
      dirs.push(dir)
      return dir
    })
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  },

  server: async ({ scriptedTickMs, serverEnv, serverArgs }, use, testInfo) => {
    const managed = await managedServer({ scriptedTickMs, serverEnv, serverArgs })
    try {
      await use(managed.server)
    } finally {
      await managed.dispose(testInfo, "server-log")
    }
  },

  spawnServer: async ({ scriptedTickMs, serverEnv, serverArgs }, use, testInfo) => {
    const extra: Array<Awaited<ReturnType<typeof managedServer>>> = []
    await use(async (options = {}) => {
      const managed = await managedServer({
        scriptedTickMs,
        serverEnv: { ...serverEnv, ...options.env },
        serverArgs: options.args ?? serverArgs,
      })
      extra.push(managed)
      return managed.server
    })
    for (const [i, managed] of extra.entries()) await managed.dispose(testInfo, `extra-server-${i + 1}-log`)
  },
})

/**
 * One server process (restartable) on its own temp data dir and cwd. `dispose` stops it, attaches
 * its logs when the test failed, and removes the temp dirs.
 */
async function managedServer(
  opts: Options,
): Promise<{ server: Server; dispose(testInfo: TestInfo, name: string): Promise<void> }> {
  const { scriptedTickMs, serverEnv, serverArgs } = opts
  const dataDir = tempDir("oc-e2e-data-")
  const cwd = tempDir("oc-e2e-cwd-")
  const baseEnv: Record<string, string | undefined> = {
    // The server runs in a temp cwd; point tsx at the package tsconfig explicitly.
    TSX_TSCONFIG_PATH: path.join(REPO_ROOT, "packages/opencode/tsconfig.json"),
    ...(scriptedTickMs !== undefined ? { OPENCODE_SCRIPTED_TICK_MS: scriptedTickMs } : {}),
    ...serverEnv,
  }
  let current: Started | undefined
  let port = 0
  const logs: string[] = []

  const launch = async (options: ServerOptions = {}, reusePort = false) => {
    current = await startServer({
      dataDir,
      cwd,
      port: reusePort ? port : 0,
      args: options.args ?? serverArgs,
      env: { ...baseEnv, ...options.env },
    })
    port = Number(new URL(current.url).port)
  }
  const record = () => {
    if (current) logs.push(`--- stdout ---\n${current.out.stdout}\n--- stderr ---\n${current.out.stderr}`)
  }

  const server: Server = {
    get url() {
      return current!.url
    },
    get port() {
      return port
    },
    dataDir,
    cwd,
    get proc() {
      return current!.proc
    },
    stdout: () => current?.out.stdout ?? "",
    stderr: () => current?.out.stderr ?? "",
    stop: (signal = "SIGTERM") => stopProc(current!.proc, signal),
    async start(options = {}) {
      if (current && !exited(current.proc)) throw new Error("server is still running; use restart()")
      record()
      await launch(options, options.samePort ?? true)
    },
    async restart(options = {}) {
      if (current && !exited(current.proc)) await stopProc(current.proc, "SIGTERM")
      record()
      await launch(options, options.samePort ?? true)
    },
    fetch(pathname, init = {}) {
      const { directory, ...rest } = init
      const headers = new Headers(rest.headers)
      if (directory) headers.set("x-opencode-directory", encodeURIComponent(directory))
      if (rest.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json")
      return fetch(new URL(pathname, current!.url + "/"), { ...rest, headers })
    },
  }

  try {
    await launch()
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(cwd, { recursive: true, force: true })
    throw err
  }
  return {
    server,
    async dispose(testInfo, name) {
      if (current) await stopProc(current.proc, "SIGTERM")
      record()
      if (testInfo.status !== testInfo.expectedStatus) {
        if (logs.length) await testInfo.attach(name, { body: logs.join("\n"), contentType: "text/plain" })
        // And the server's database (journal, runs, summaries): the evidence of what the server did.
        const db = path.join(dataDir, "opencode.db")
        if (existsSync(db))
          await testInfo.attach(`${name}-opencode.db`, { path: db, contentType: "application/vnd.sqlite3" })
      }
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(cwd, { recursive: true, force: true })
    },
  }
}

/** Full-page screenshot into the test's output dir, attached to the report. */
export async function snap(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  const file = testInfo.outputPath(`${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`)
  await page.screenshot({ path: file, fullPage: true })
  await testInfo.attach(name, { path: file, contentType: "image/png" })
  return file
}

export { expect }
