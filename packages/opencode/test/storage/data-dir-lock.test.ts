/**
 * One server per data dir: a second `opencode serve` on a data dir another server holds exits 1
 * naming the dir and the holder's pid (two servers would number journal rows from two counters);
 * a lock left by a process that died is taken over; `opencode export` keeps reading while the
 * server runs. All with real processes.
 */
import { spawn } from "node:child_process"
import { rmSync } from "node:fs"
import path from "node:path"
import { afterAll, describe, expect, test } from "vitest"
import { BIN, spawnServer, type SpawnedServer, tempDir } from "../harness.ts"

const dirs: string[] = []
const procs: SpawnedServer[] = []
afterAll(() => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function temp(prefix: string): string {
  const dir = tempDir(prefix)
  dirs.push(dir)
  return dir
}

async function serve(dataDir: string): Promise<SpawnedServer> {
  const server = await spawnServer(dataDir)
  procs.push(server)
  return server
}

/** The CLI to completion: its exit code and output. */
function cli(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, OPENCODE_SCRIPTED_TICK_MS: "20" },
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (chunk) => (stdout += chunk))
    proc.stderr.on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => {
      proc.kill("SIGKILL")
      reject(new Error(`opencode ${args[0]} did not exit: ${stdout} ${stderr}`))
    }, timeoutMs)
    proc.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

async function call(
  url: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(url + route, {
    method,
    headers: body !== undefined ? { "content-type": "application/json" } : {},
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

describe("the data dir lock", () => {
  test("a second server on a held data dir exits 1 naming the dir and the holder's pid; the first keeps serving", async () => {
    const dataDir = temp("oc-lock-")
    const first = await serve(dataDir)
    const second = await cli(["serve", "--port", "0", "--data-dir", dataDir])
    expect(second.code).toBe(1)
    expect(second.stdout).not.toMatch(/listening on/)
    expect(second.stderr).toContain(dataDir)
    expect(second.stderr).toContain(`pid ${first.proc.pid}`)
    expect(second.stderr).not.toMatch(/\n\s+at /) // a message, not a stack
    const health = await call(first.url, "GET", "/health")
    expect(health.status).toBe(200)
    expect(health.body.degraded).toBeUndefined()
  })

  test("a lock left by a server that was killed is taken over", async () => {
    const dataDir = temp("oc-lock-stale-")
    const first = await serve(dataDir)
    first.proc.kill("SIGKILL")
    await first.exited
    const again = await serve(dataDir)
    expect((await call(again.url, "GET", "/health")).status).toBe(200)
  })

  test("a server that shut down releases the data dir", async () => {
    const dataDir = temp("oc-lock-release-")
    const first = await serve(dataDir)
    first.proc.kill("SIGTERM")
    await first.exited
    const again = await serve(dataDir)
    expect((await call(again.url, "GET", "/health")).status).toBe(200)
  })

  test("opencode export reads the data dir while the server holds it", async () => {
    const dataDir = temp("oc-lock-export-")
    const server = await serve(dataDir)
    const project = temp("oc-lock-proj-")
    const session = await fetch(`${server.url}/session`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-opencode-directory": encodeURIComponent(project) },
      body: "{}",
    }).then((res) => res.json() as Promise<{ id: string }>)
    const exported = await cli(["export", session.id, "--data-dir", dataDir])
    expect(exported.stderr).toBe("")
    expect(exported.code).toBe(0)
    expect(JSON.parse(exported.stdout).session.id).toBe(session.id)
    // The server is still the only writer and still serving.
    expect((await call(server.url, "GET", `/session/${session.id}`)).status).toBe(200)
    expect(path.isAbsolute(dataDir)).toBe(true)
  })
})

describe("the data dir lock within one process", () => {
  test("a second host on the same data dir is refused until the first closes", async () => {
    const { createHost } = await import("../../src/host.ts")
    const { DataDirLockedError } = await import("../../src/storage/data-dir-lock.ts")
    const dataDir = temp("oc-lock-inproc-")
    const first = createHost({ dataDir, env: {} })
    try {
      expect(() => createHost({ dataDir, env: {} })).toThrow(DataDirLockedError)
      // Reading (the export's way) needs no lock.
      const reader = createHost({ dataDir, env: {}, readOnly: true })
      reader.close()
    } finally {
      first.close()
    }
    createHost({ dataDir, env: {} }).close()
  })
})
