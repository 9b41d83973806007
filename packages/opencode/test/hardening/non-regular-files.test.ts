/**
 * A file the server or the CLI reads, replaced by a named pipe (or another non-regular file):
 * nothing waits on it. The server keeps answering every directory and `/health`, the routes
 * that read the file answer 400 in words, and `opencode explain` exits 2 in words. The server
 * runs as a child process, so a read that blocked would freeze it and not the test.
 */
import { execFile, execFileSync } from "node:child_process"
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import http from "node:http"
import net from "node:net"
import path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { BIN, spawnServer, sseFrames, tempDir, waitFor, type SpawnedServer } from "../harness.ts"
import { FileRefusal, readRegularFile, readRegularFileSync } from "../../src/regular-file.ts"

/** A request that gets no answer within this long counts as a frozen server. */
const PROMPT_MS = 5000

const servers: SpawnedServer[] = []
const dirs: string[] = []
afterAll(() => {
  for (const server of servers) server.proc.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function dir(prefix: string): string {
  const made = tempDir(prefix)
  dirs.push(made)
  return made
}

function mkfifo(file: string): void {
  execFileSync("mkfifo", [file])
}

async function call(
  base: string,
  method: string,
  route: string,
  opts: { directory?: string; body?: unknown } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {}
  if (opts.directory) headers["x-opencode-directory"] = encodeURIComponent(opts.directory)
  if (opts.body !== undefined) headers["content-type"] = "application/json"
  const res = await fetch(base + route, {
    method,
    headers,
    signal: AbortSignal.timeout(PROMPT_MS),
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

async function serve(dataDir: string, directory?: string): Promise<string> {
  const server = await spawnServer(dataDir, {}, directory)
  servers.push(server)
  return server.url
}

describe("readRegularFile", () => {
  it("reads a regular file, and refuses in words a pipe, a socket, a directory, a missing file and one over the limit", async () => {
    const root = dir("oc-regular-")
    const regular = path.join(root, "regular.json")
    writeFileSync(regular, '{"a":1}')
    const fifo = path.join(root, "pipe.json")
    mkfifo(fifo)
    const socketFile = path.join(root, "socket.json")
    const listener = net.createServer().listen(socketFile)
    await new Promise((resolve) => listener.once("listening", resolve))
    try {
      const limits = (label: string) => ({ maxBytes: 64, label })
      expect((await readRegularFile(regular, limits("regular.json"))).toString()).toBe('{"a":1}')
      expect(readRegularFileSync(regular, limits("regular.json")).toString()).toBe('{"a":1}')
      const cases: [string, string, RegExp][] = [
        [fifo, "not_regular_file", /^pipe\.json is a named pipe, not a regular file$/],
        [socketFile, "not_regular_file", /^socket\.json is a socket/],
        [root, "not_regular_file", /is a directory, not a regular file$/],
        [path.join(root, "absent.json"), "not_found", /does not exist$/],
      ]
      writeFileSync(path.join(root, "big.json"), "x".repeat(65))
      cases.push([path.join(root, "big.json"), "too_large", /is larger than 64 bytes$/])
      for (const [file, code, message] of cases) {
        for (const read of [
          () => readRegularFile(file, limits(path.basename(file))),
          async () => readRegularFileSync(file, limits(path.basename(file))),
        ]) {
          const refusal = await read().then(
            () => undefined,
            (error: unknown) => error,
          )
          expect(refusal, file).toBeInstanceOf(FileRefusal)
          expect((refusal as FileRefusal).code).toBe(code)
          expect((refusal as FileRefusal).message).toMatch(message)
          expect((refusal as FileRefusal).message).not.toContain(root)
        }
      }
      // The pipe is untouched: still a pipe, nobody waiting on it.
      expect(statSync(fifo).isFIFO()).toBe(true)
    } finally {
      listener.close()
    }
  })
})

describe("a named pipe where the server reads a file", () => {
  it(
    "as a project's opencode.json: /health and other directories answer, the config routes answer 400 in words",
    { timeout: 60_000 },
    async () => {
      const base = await serve(dir("oc-data-"))
      const piped = dir("oc-proj-")
      mkfifo(path.join(piped, "opencode.json"))
      const other = dir("oc-proj-")

      const get = await call(base, "GET", "/config", { directory: piped })
      expect(get.status).toBe(400)
      expect(get.body.error.code).toBe("not_regular_file")
      expect(get.body.error.message).toMatch(/opencode\.json is a named pipe, not a regular file/)
      expect(get.body.error.message).not.toContain(piped)
      const patch = await call(base, "PATCH", "/config", { directory: piped, body: { theme: "x" } })
      expect(patch.status).toBe(400)
      expect(patch.body.error.code).toBe("not_regular_file")
      expect(statSync(path.join(piped, "opencode.json")).isFIFO()).toBe(true)

      // Opening the directory's instance digests its config: a session is created all the same.
      const session = await call(base, "POST", "/session", { directory: piped, body: {} })
      expect(session.status).toBe(200)
      const prompt = await call(base, "POST", `/session/${session.body.id}/prompt`, {
        directory: piped,
        body: { text: "go", model: "scripted/quick" },
      })
      expect(prompt.status).toBe(200)
      expect((await call(base, "GET", "/health")).status).toBe(200)
      expect((await call(base, "GET", "/config", { directory: other })).status).toBe(200)
    },
  )

  it(
    "replacing an open project's opencode.json: its watcher closes the instance, and the server keeps answering",
    { timeout: 60_000 },
    async () => {
      const base = await serve(dir("oc-data-"))
      const project = dir("oc-proj-")
      writeFileSync(path.join(project, "opencode.json"), '{"theme":"a"}\n')
      const session = await call(base, "POST", "/session", { directory: project, body: {} })
      expect(session.status).toBe(200)
      const events = listen(base, project)
      await waitFor(() => events.types.includes("server.connected"))
      rmSync(path.join(project, "opencode.json"))
      mkfifo(path.join(project, "opencode.json"))
      // The watcher sees another file (not a regular one) and closes the instance: wait for that.
      await waitFor(() => events.types.includes("server.instance.disposed"), 20_000)
      events.stop()
      expect((await call(base, "GET", "/health")).status).toBe(200)
      expect((await call(base, "GET", "/config", { directory: project })).status).toBe(400)
    },
  )

  it(
    "as the global config file: the server starts, /global/config answers 400 in words, prompts run on the default model",
    { timeout: 60_000 },
    async () => {
      const dataDir = dir("oc-data-")
      mkfifo(path.join(dataDir, "config.json"))
      const base = await serve(dataDir)
      const global = await call(base, "GET", "/global/config")
      expect(global.status).toBe(400)
      expect(global.body.error.code).toBe("not_regular_file")
      expect(global.body.error.message).toMatch(/config\.json is a named pipe, not a regular file/)
      const patch = await call(base, "PATCH", "/global/config", { body: { note: "x" } })
      expect(patch.status).toBe(400)
      expect(statSync(path.join(dataDir, "config.json")).isFIFO()).toBe(true)
      const project = dir("oc-proj-")
      const session = await call(base, "POST", "/session", { directory: project, body: {} })
      const prompt = await call(base, "POST", `/session/${session.body.id}/prompt`, {
        directory: project,
        body: { text: "go" },
      })
      expect(prompt.status).toBe(200)
      const forwarded = await fetch(`${base}/session`, {
        headers: { "x-opencode-workspace": "ws1" },
        signal: AbortSignal.timeout(PROMPT_MS),
      })
      expect(forwarded.status).toBe(400)
      expect((await call(base, "GET", "/health")).status).toBe(200)
    },
  )
})

describe("opencode explain on a named pipe, a socket or a directory", () => {
  it("exits 2 promptly with one sentence naming what the path is", { timeout: 60_000 }, async () => {
    const root = dir("oc-explain-")
    const fifo = path.join(root, "export.json")
    mkfifo(fifo)
    const nested = path.join(root, "a-directory")
    mkdirSync(nested)
    for (const [target, what] of [
      [fifo, /cannot read \S*export\.json: it is a named pipe, not a regular file/],
      [nested, /cannot read \S*a-directory: it is a directory, not a regular file/],
    ] as const) {
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, "explain", target], { timeout: 15_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
        )
      })
      expect(result.code, result.stderr).toBe(2)
      expect(result.stdout).toBe("")
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(result.stderr).toMatch(/^opencode explain: /)
      expect(result.stderr).toMatch(what)
    }
  })
})

/** The event types `/event?directory=` carries, as they arrive. */
function listen(base: string, directory: string): { types: string[]; stop(): void } {
  const types: string[] = []
  const req = http.get(`${base}/event?directory=${encodeURIComponent(directory)}`, (res) => {
    res.setEncoding("utf8")
    res.on(
      "data",
      sseFrames((event) => types.push(event.type)),
    )
  })
  req.on("error", () => {})
  return { types, stop: () => req.destroy() }
}
