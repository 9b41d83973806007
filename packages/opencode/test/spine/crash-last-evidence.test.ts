/**
 * A lost run's last evidence is the latest of its heartbeat, its stored output and its tool steps:
 * output stored after the last heartbeat moves it on, so "how far the run got" is never understated.
 * A lost resend keeps the link to the run it resent.
 */
import { rmSync } from "node:fs"
import { afterAll, describe, expect, test } from "vitest"
import { createHost } from "../../src/host.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { callServer, spawnServer, type SpawnedServer, tempDir, waitFor } from "../harness.ts"

const dirs: string[] = []
const procs: SpawnedServer[] = []
afterAll(() => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL")
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** SIGKILLs `server`, then starts a server on its data dir (which runs the crash scan) and stops it cleanly. */
async function killAndScan(server: SpawnedServer, dataDir: string, env: Record<string, string>): Promise<void> {
  server.proc.kill("SIGKILL")
  await server.exited
  const next = await spawnServer(dataDir, env)
  procs.push(next)
  await callServer(next.url, "GET", "/health")
  next.proc.kill("SIGTERM")
  await next.exited
}

const steps = (body: any[]): number => {
  const text = body
    .filter((m) => m.info.role === "assistant")
    .flatMap((m) => m.parts)
    .map((p: any) => (p.type === "text" ? p.text : ""))
    .join("")
  return (text.match(/step \d+/g) ?? []).length
}

describe("a lost run's last evidence", () => {
  test("output stored after the last heartbeat is its last evidence, in the crash record and the summary", async () => {
    const dataDir = tempDir("oc-data-")
    const project = tempDir("oc-proj-")
    dirs.push(dataDir, project)
    // One heartbeat at the start, none after: output streams on for many ticks before the kill.
    const env = { OPENCODE_SCRIPTED_TICK_MS: "60", OPENCODE_HEARTBEAT_MS: "600000" }
    const first = await spawnServer(dataDir, env)
    procs.push(first)
    const session = await callServer(first.url, "POST", "/session", project, {})
    const sessionId = session.body.id as string
    const stopped = await callServer(first.url, "POST", `/session/${sessionId}/prompt`, project, {
      text: "go",
      model: "scripted/quick",
    })
    await waitFor(async () =>
      (await callServer(first.url, "GET", `/session/${sessionId}/run`)).body.every(
        (run: any) => run.status === "finished",
      ),
    )
    const prompt = await callServer(first.url, "POST", `/session/${sessionId}/prompt`, project, {
      text: "go",
      model: "scripted/slow",
      resendOf: stopped.body.runId,
    })
    const runId = prompt.body.runId as string
    await waitFor(async () => steps((await callServer(first.url, "GET", `/session/${sessionId}/message`)).body) >= 6)
    await killAndScan(first, dataDir, env)

    const host = createHost({ dataDir, readOnly: true })
    try {
      const run = host.sessions.runs(sessionId).find((item) => item.runId === runId)!
      const doc = buildSessionExport(host, sessionId, "diagnostics")!
      const crash = doc.diagnostics.crashes.find((item: any) => item.runId === runId)!
      expect(crash.lastHeartbeatAt).toBe(run.startedAt)
      // Six ticks of 60 ms after the start at least: far past the only heartbeat.
      expect(crash.lastOutputAt).toBeGreaterThanOrEqual(run.startedAt + 5 * 60)
      expect(crash.lastOutputAt).toBeLessThan(crash.detectedAt)
      expect(run.summary?.provider.lastOutputAt).toBe(crash.lastOutputAt)
      expect(crash.resendOf).toBe(stopped.body.runId)
      expect(run.summary?.resendOf).toBe(stopped.body.runId)
      const chain = doc.incidents.find((item) => item.runId === runId)!
      expect(chain.verdict).toBe("crash_evidence")
      expect(chain.resendOf).toBe(stopped.body.runId)
    } finally {
      host.close()
    }
  }, 30_000)

  test("a run lost before any answer was stored has no stored output: its prompt is not its output", async () => {
    const dataDir = tempDir("oc-data-")
    const project = tempDir("oc-proj-")
    dirs.push(dataDir, project)
    const env = { OPENCODE_HEARTBEAT_MS: "600000" }
    const first = await spawnServer(dataDir, env)
    procs.push(first)
    const session = await callServer(first.url, "POST", "/session", project, {})
    const sessionId = session.body.id as string
    // The silent model streams nothing: only the prompt is stored.
    const prompt = await callServer(first.url, "POST", `/session/${sessionId}/prompt`, project, {
      text: "go",
      model: "scripted/silent",
    })
    const runId = prompt.body.runId as string
    await waitFor(async () =>
      (await callServer(first.url, "GET", `/session/${sessionId}/message`)).body.some(
        (m: any) => m.info.role === "user" && m.parts.length > 0,
      ),
    )
    await killAndScan(first, dataDir, env)

    const host = createHost({ dataDir, readOnly: true })
    try {
      const crash = buildSessionExport(host, sessionId, "diagnostics")!.diagnostics.crashes.find(
        (item: any) => item.runId === runId,
      )!
      expect(crash).toBeDefined()
      expect(crash.lastOutputAt).toBeUndefined()
      expect(
        host.sessions.runs(sessionId).find((item) => item.runId === runId)?.summary?.provider.lastOutputAt,
      ).toBeUndefined()
    } finally {
      host.close()
    }
  }, 30_000)
})
