/**
 * Shutdown: new work is refused (503 `shutting_down`) before any instance is closed, so nothing
 * starts after the close took its snapshot; the shutdown is bounded (past the settle timeout
 * the process writes what it knows, `run_summary` named missing, and exits); a second signal
 * exits at once; a tool pointed at a FIFO cannot keep the process from exiting.
 */
import { execFileSync } from "node:child_process"
import { existsSync, rmSync } from "node:fs"
import path from "node:path"
import { afterAll, afterEach, describe, expect, test } from "vitest"
import { createHost } from "../../src/host.ts"
import type { ProviderEvent } from "../../src/provider/provider.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import {
  callServer,
  spawnServer,
  type SpawnedServer,
  startRun,
  startTestServer,
  tempDir,
  type TestServer,
  waitFor,
} from "../harness.ts"
import { directoryKey, installProvider, lingeringGitBin } from "./spine-helpers.ts"

const dirs: string[] = []
const procs: SpawnedServer[] = []
let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})
afterAll(() => {
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function temp(prefix: string): string {
  const dir = tempDir(prefix)
  dirs.push(dir)
  return dir
}

/** `promise`, or "hung" after `ms` (generous: these only tell "exits" from "never exits"). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "hung"> {
  let timer!: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms))),
  ]).finally(() => clearTimeout(timer))
}

async function startChildRun(
  url: string,
  directory: string,
  model: string,
): Promise<{ sessionId: string; runId: string }> {
  const session = await callServer(url, "POST", "/session", directory, {})
  expect(session.status).toBe(200)
  const prompt = await callServer(url, "POST", `/session/${session.body.id}/prompt`, directory, { text: "go", model })
  expect(prompt.status).toBe(200)
  return { sessionId: session.body.id, runId: prompt.body.runId }
}

async function hasPart(url: string, sessionId: string, match: (part: any) => boolean): Promise<boolean> {
  const messages = await callServer(url, "GET", `/session/${sessionId}/message`)
  return (messages.body as any[]).some((m) => m.parts.some(match))
}

function readBack(dataDir: string, sessionId: string, runId: string) {
  const host = createHost({ dataDir, readOnly: true })
  try {
    const summary = host.sessions.runs(sessionId).find((run) => run.runId === runId)?.summary
    const chain = buildSessionExport(host, sessionId, "diagnostics")?.incidents.find((c) => c.runId === runId)
    return { summary: summary as any, chain: chain as any }
  } finally {
    host.close()
  }
}

/** A `git` on PATH that runs the real one, then lingers after `init`: git init's route holds the directory lock meanwhile. */
function lingeringGit(seconds: number): string {
  const bin = lingeringGitBin(seconds)
  dirs.push(bin)
  return `${bin}${path.delimiter}${process.env.PATH}`
}

describe("shutdown refuses new work first", () => {
  test("a prompt or a new directory during shutdown: 503 shutting_down, and no run starts after the close's snapshot", async () => {
    server = await startTestServer({ settleTimeoutMs: 1500 })
    const { host } = server.running
    // A run that ignores its abort keeps the shutdown busy for the settle timeout.
    installProvider(host, "stuck", async function* (): AsyncGenerator<ProviderEvent> {
      yield { type: "text", text: "working" }
      await new Promise(() => {})
    })
    const busy = server.project()
    const other = server.project()
    await startRun(server, busy, "stuck/model")
    const later = await server.call("POST", "/session", { directory: other, body: {} })
    expect(later.status).toBe(200)
    await server.call("POST", "/instance/dispose", { directory: other })

    const shutdown = server.running.shutdown("api")
    await waitFor(() => host.instances.get(directoryKey(busy))?.state === "closing")
    const prompt = await server.call("POST", `/session/${later.body.id}/prompt`, {
      directory: other,
      body: { text: "go", model: "scripted/slow" },
    })
    expect(prompt.status).toBe(503)
    expect(prompt.body.error.code).toBe("shutting_down")
    expect(prompt.headers.get("x-frame-options")).toBe("DENY")
    const session = await server.call("POST", "/session", { directory: server.project(), body: {} })
    expect(session.status).toBe(503)
    expect(session.body.error.code).toBe("shutting_down")
    expect(await shutdown).toBe("closed")
    const after = createHost({ dataDir: server.dataDir, readOnly: true })
    try {
      expect(after.sessions.runs(later.body.id)).toEqual([])
    } finally {
      after.close()
    }
  })
})

describe("shutdown is bounded (real process)", () => {
  test("a write tool aimed at a FIFO is refused, and SIGTERM still exits 0", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    execFileSync("mkfifo", [path.join(project, "scripted-output.txt")])
    const child = await spawnServer(dataDir, { OPENCODE_SETTLE_TIMEOUT_MS: "300" })
    procs.push(child)
    const { sessionId, runId } = await startChildRun(child.url, project, "scripted/tool-write")
    await waitFor(() => hasPart(child.url, sessionId, (part) => part.type === "tool"))
    await new Promise((resolve) => setTimeout(resolve, 300))
    child.proc.kill("SIGTERM")
    expect(await within(child.exited, 15_000)).toBe(0)
    const { summary } = readBack(dataDir, sessionId, runId)
    expect(summary.classification).toBe("tool_error")
    expect(summary.error).toMatchObject({ class: "ToolError", code: "not_regular_file" })
  })

  test("a close stuck behind git init's lock: past the settle timeout the process writes what it knows and exits", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    const child = await spawnServer(dataDir, {
      OPENCODE_SETTLE_TIMEOUT_MS: "300",
      OPENCODE_SCRIPTED_TICK_MS: "500",
      PATH: lingeringGit(30),
    })
    procs.push(child)
    const { sessionId, runId } = await startChildRun(child.url, project, "scripted/slow")
    void callServer(child.url, "POST", "/project/git/init", project).catch(() => {})
    await waitFor(() => existsSync(path.join(project, ".git", "HEAD")))
    child.proc.kill("SIGTERM")
    expect(await within(child.exited, 15_000)).toBe(1)
    expect(child.stderr()).toContain("shutdown")
    const { summary, chain } = readBack(dataDir, sessionId, runId)
    expect(summary).toBeDefined()
    expect(summary.missing, JSON.stringify(summary)).toContain("run_summary")
    expect(summary.interrupt.lifecycle).toMatchObject({
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      origin: { kind: "shutdown", signal: "SIGTERM" },
    })
    expect(chain.verdict).not.toBe("crash_evidence")
  })

  test("a second signal exits at once, whatever the first is waiting for", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    const child = await spawnServer(dataDir, {
      OPENCODE_SETTLE_TIMEOUT_MS: "60000",
      OPENCODE_SCRIPTED_TICK_MS: "500",
      PATH: lingeringGit(30),
    })
    procs.push(child)
    await startChildRun(child.url, project, "scripted/slow")
    void callServer(child.url, "POST", "/project/git/init", project).catch(() => {})
    await waitFor(() => existsSync(path.join(project, ".git", "HEAD")))
    child.proc.kill("SIGTERM")
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(child.proc.exitCode).toBeNull()
    child.proc.kill("SIGTERM")
    expect(await within(child.exited, 5000)).not.toBe("hung")
  })
})
