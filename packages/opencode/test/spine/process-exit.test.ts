/**
 * The server process ending: SIGTERM closes every instance with a `shutdown` origin and writes
 * the summaries before exiting 0; SIGKILL leaves no finalizer, and the next server reads the
 * run as crash evidence, unless the journal holds an `abort_requested` for it, in which case it
 * reads as that close with its summary missing.
 */
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { afterAll, describe, expect, test } from "vitest"
import { createHost } from "../../src/host.ts"
import { withProvenance } from "../../src/provenance/completeness.ts"
import { LifecycleAction } from "../../src/provenance/schemas.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { openDatabase } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { callServer, spawnServer, type SpawnedServer, tempDir, waitFor } from "../harness.ts"
import { directoryKey, link } from "./spine-helpers.ts"

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

async function spawn(dataDir: string, env: Record<string, string> = {}): Promise<SpawnedServer> {
  const server = await spawnServer(dataDir, { OPENCODE_SCRIPTED_TICK_MS: "100", ...env })
  procs.push(server)
  return server
}

async function startSlowRun(url: string, directory: string): Promise<{ sessionId: string; runId: string }> {
  const session = await callServer(url, "POST", "/session", directory, {})
  expect(session.status).toBe(200)
  const prompt = await callServer(url, "POST", `/session/${session.body.id}/prompt`, directory, {
    text: "go",
    model: "scripted/slow",
  })
  expect(prompt.status).toBe(200)
  await waitFor(async () => {
    const messages = await callServer(url, "GET", `/session/${session.body.id}/message`)
    return (messages.body as any[]).some(
      (m) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text),
    )
  })
  return { sessionId: session.body.id, runId: prompt.body.runId }
}

/** The data dir read the way `opencode export` reads it: no boot, no crash scan. */
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

describe("process exit", () => {
  test("SIGTERM: dispose_all with a shutdown origin, summaries written, exit 0", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    const server = await spawn(dataDir)
    const { sessionId, runId } = await startSlowRun(server.url, project)
    server.proc.kill("SIGTERM")
    expect(await server.exited).toBe(0)

    const { summary, chain } = readBack(dataDir, sessionId, runId)
    expect(summary.classification).toBe("local_instance_dispose_all")
    expect(summary.interrupt.lifecycle).toMatchObject({ operation: "dispose_directory", rootOperation: "dispose_all" })
    expect(summary.interrupt.lifecycle.origin).toMatchObject({
      kind: "shutdown",
      signal: "SIGTERM",
      provenance: { complete: true, missing: [] },
    })
    expect(chain).toMatchObject({ verdict: "diagnosed", classification: "local_instance_dispose_all", missing: [] })
    expect(chain.lifecyclePath.map((s: any) => s.operation)).toEqual(["dispose_all", "dispose_directory"])
    expect(link(chain, "request").status).toBe("not_applicable")

    // The next server finds nothing to call a crash.
    const again = await spawn(dataDir)
    const runs = await callServer(again.url, "GET", `/session/${sessionId}/run`)
    expect(runs.body.find((r: any) => r.runId === runId).summary.classification).toBe("local_instance_dispose_all")
    again.proc.kill("SIGTERM")
    expect(await again.exited).toBe(0)
  })

  test("SIGKILL: process_exit_without_finalizer, crash evidence, never a lifecycle close", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    const server = await spawn(dataDir, { OPENCODE_HEARTBEAT_MS: "50" })
    const { sessionId, runId } = await startSlowRun(server.url, project)
    server.proc.kill("SIGKILL")
    await server.exited

    const again = await spawn(dataDir, { OPENCODE_HEARTBEAT_MS: "50" })
    const runs = await callServer(again.url, "GET", `/session/${sessionId}/run`)
    const summary = runs.body.find((r: any) => r.runId === runId).summary
    expect(summary.classification).toBe("process_exit_without_finalizer")
    expect(summary.interrupt).toBeUndefined()
    const incidents = await callServer(again.url, "GET", `/session/${sessionId}/incident`)
    const chain = incidents.body.find((c: any) => c.runId === runId)
    expect(chain).toMatchObject({ classification: "process_exit_without_finalizer", verdict: "crash_evidence" })
    expect(chain.operation).toBeUndefined()
    expect(chain.lifecycleId).toBeUndefined()
    expect(chain.missing).toContain("run_summary")
    expect(chain.retry).toEqual({ safe: true, basis: ["no_side_effects", "visible_output_seen"] })
    again.proc.kill("SIGTERM")
    expect(await again.exited).toBe(0)
  })

  test("killed between journalling a close and its summary: reads as that close, run_summary missing", async () => {
    const dataDir = temp("oc-data-")
    const project = temp("oc-proj-")
    const server = await spawn(dataDir)
    const { sessionId, runId } = await startSlowRun(server.url, project)
    server.proc.kill("SIGKILL")
    await server.exited

    // What the close primitive had journalled (steps 1 and 2) when the process died.
    const db = openDatabase(dataDir)
    const run = db.prepare("SELECT instance_id AS instanceId, generation FROM run WHERE id = ?").get(runId) as
      { instanceId: string; generation: number } | undefined
    const journal = new Journal(db, `boot_${randomUUID().replaceAll("-", "")}`)
    const lifecycleId = `lc_${randomUUID().replaceAll("-", "")}`
    const action = LifecycleAction.parse({
      lifecycleId,
      seq: journal.nextSeq(),
      operation: "reload",
      rootOperation: "reload",
      rootId: lifecycleId,
      origin: withProvenance({
        kind: "api_route",
        request: {
          requestId: "req_killedmidclose",
          route: "/instance/reload",
          method: "POST",
          clientKind: "plain",
          actionHeader: "absent",
        },
      }),
      directoryKeys: [directoryKey(project)],
      directoryCount: 1,
      instances: run ? [run] : [],
      runIds: [runId],
      startedAt: Date.now(),
    })
    journal.append("lifecycle.started", { lifecycleId }, action)
    journal.append("abort_requested", { runId, lifecycleId, sessionId }, { runId, lifecycleId, sessionId })
    db.close()

    const again = await spawn(dataDir)
    const incidents = await callServer(again.url, "GET", `/session/${sessionId}/incident`)
    const chain = incidents.body.find((c: any) => c.runId === runId)
    expect(chain).toMatchObject({
      classification: "local_instance_reload",
      operation: "reload",
      lifecycleId,
      verdict: "partially_diagnosed",
    })
    expect(chain.origin).toMatchObject({ kind: "api_route", request: { requestId: "req_killedmidclose" } })
    expect(chain.missing).toEqual(["run_summary"])
    expect(link(chain, "run_summary").status).toBe("missing")
    expect(link(chain, "interrupt")).toMatchObject({ status: "present" })
    again.proc.kill("SIGTERM")
    expect(await again.exited).toBe(0)
  })
})
