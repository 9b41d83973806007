/**
 * A forwarded workspace: two servers on loopback. A run started through the local server's
 * workspace forwarding and interrupted on the remote is `remote_interrupted` here, with a
 * `forwarded_remote` origin, never a local cause; the remote's own chain rides beside it.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { rmSync } from "node:fs"
import path from "node:path"
import { afterEach, expect, test } from "vitest"
import { RemoteRunWatch } from "../../src/server/remote-run-watch.ts"
import {
  finishedRun,
  incidentOf,
  spawnServer,
  startApp,
  startTestServer,
  tempDir,
  waitFor,
  type TestServer,
} from "../harness.ts"
import { startOpencodeStub, type OpencodeStub } from "./opencode-stub.ts"

const servers: TestServer[] = []
const stubs: OpencodeStub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
  await Promise.all(stubs.splice(0).map((stub) => stub.close()))
})

test("a forwarded run interrupted by a reload on the remote is remote_interrupted, with the remote chain kept as remote_reported", async () => {
  const remote = await startTestServer({ tickMs: 50 })
  servers.push(remote)
  const local = await startApp({
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: remote.url } } }) },
  })
  servers.push(local)
  const dir = remote.project()
  const ws = { "x-opencode-workspace": "w1" }

  const session = await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })
  expect(session.status).toBe(200)
  const sessionId = session.body.id
  // The session lives on the remote, not here.
  expect((await remote.call("GET", `/session/${sessionId}`)).status).toBe(200)

  const prompt = await local.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    headers: ws,
    body: { text: "hello", model: "scripted/slow" },
  })
  expect(prompt.status).toBe(200)
  const runId = prompt.body.runId
  await waitFor(async () => {
    const messages = await remote.call("GET", `/session/${sessionId}/message`)
    return (messages.body as any[]).some((m) => m.info.role === "assistant" && m.parts.some((p: any) => p.text))
  })

  // The remote reloads its own instance: a cause local to the remote, not to us.
  await remote.call("POST", "/instance/reload", { directory: dir })
  const localSummary = await finishedRun(local, sessionId, runId)
  expect(localSummary.classification).toBe("remote_interrupted")
  expect(localSummary.interrupt).toMatchObject({ kind: "remote", workspaceId: "w1" })
  expect(localSummary.model).toBe("scripted/slow")

  const chain = await incidentOf(local, sessionId, runId)
  expect(chain.verdict).toBe("remote_reported")
  expect(chain.origin).toMatchObject({ kind: "forwarded_remote", workspaceId: "w1" })
  expect(chain.operation).toBeUndefined()
  expect(
    chain.links
      .filter((l: any) => l.hop === "renderer" || l.hop === "request" || l.hop === "lifecycle")
      .every((l: any) => l.status === "remote_reported"),
  ).toBe(true)
  expect(chain.remote.source).toBe("remote_reported")
  expect(chain.remote.chain).toMatchObject({ runId, classification: "local_instance_reload", operation: "reload" })

  // The remote's own record is its local reload.
  const remoteChain = await incidentOf(remote, sessionId, runId)
  expect(remoteChain.classification).toBe("local_instance_reload")
})

test("an unknown workspace is a 400 naming the header, and nothing is forwarded", async () => {
  const local = await startApp()
  servers.push(local)
  const res = await local.call("POST", "/session", { headers: { "x-opencode-workspace": "nope" }, body: {} })
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe("unknown_workspace")
  expect(res.body.error.message).toContain("x-opencode-workspace")
})

// ---------------------------------------------------------------------------------------------
// The watch's own hardening: a timeout, writes through the journal's fault handling, and the
// remote's chain kept under the same allow-list and caps as an imported file's.

test("a remote that goes silent (no event, no heartbeat) ends the watch after its idle timeout: remote_interrupted, and the stream is released", async () => {
  const stub = await startOpencodeStub()
  stubs.push(stub)
  const local = await startApp()
  servers.push(local)
  const host = local.running.host
  const watch = new RemoteRunWatch(
    host,
    { workspaceId: "w9", baseUrl: stub.url, sessionId: "ses_silentremote1" },
    { idleMs: 300 },
  )
  await watch.ready
  expect(stub.streams()).toBe(1)
  watch.forwarded(undefined)
  stub.silence()
  const run = host.sessions.runs("ses_silentremote1")[0]!
  expect(run.status).toBe("running")
  await waitFor(() => host.sessions.runs("ses_silentremote1")[0]?.status === "finished")
  expect(host.sessions.runs("ses_silentremote1")[0]!.summary!.classification).toBe("remote_interrupted")
  await waitFor(() => stub.streams() === 0)
})

test("the watch writes through the journal's fault handling: a forwarded run that ends while the local database is locked is finished once the lock is gone", async () => {
  const remote = await startTestServer({ tickMs: 50 })
  servers.push(remote)
  const local = await startApp({
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: remote.url } } }) },
  })
  servers.push(local)
  const dir = remote.project()
  const ws = { "x-opencode-workspace": "w1" }
  const finished: any[] = []
  local.running.host.bus.subscribe((event) => {
    if (event.type === "run.finished") finished.push(event.properties.summary)
  })
  const sessionId = (await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })).body.id
  const runId = (
    await local.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      headers: ws,
      body: { text: "hello", model: "scripted/slow" },
    })
  ).body.runId
  expect(runId).toMatch(/^run_/)
  await waitFor(() => local.running.host.sessions.runs(sessionId).length === 1)

  const lock = await lockDatabase(local.dataDir)
  let released = false
  try {
    await remote.call("POST", "/instance/reload", { directory: dir })
    await waitFor(() => finished.some((summary) => summary.runId === runId), 15_000)
    expect(finished.find((summary) => summary.runId === runId).classification).toBe("remote_interrupted")
    expect(local.running.host.degraded).toEqual(expect.arrayContaining(["storage_locked"]))
    await lock.release()
    released = true
    await waitFor(() => local.running.host.health().journal.backlog === 0, 15_000)
    expect(local.running.host.health().journal.lost).toBe(0)
    const summary = await finishedRun(local, sessionId, runId)
    expect(summary.classification).toBe("remote_interrupted")
  } finally {
    if (!released) await lock.release().catch(() => lock.proc.kill("SIGKILL"))
  }
})

test("a remote's chain is kept through the allow-list and caps of an imported file: no unknown origin fields, a capped missing list", async () => {
  const stub = await startOpencodeStub()
  stubs.push(stub)
  const local = await startApp({
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: stub.url } } }) },
  })
  servers.push(local)
  const ws = { "x-opencode-workspace": "w1" }
  const sessionId = (await local.call("POST", "/session", { headers: ws, body: {} })).body.id
  const runId = "run_hostileremote1"
  expect(
    (await local.call("POST", `/session/${sessionId}/prompt_async`, { headers: ws, body: { text: "x" } })).status,
  ).toBe(204)
  let localRunId = ""
  await waitFor(() => {
    localRunId = local.running.host.sessions.runs(sessionId)[0]?.runId ?? ""
    return localRunId !== ""
  })
  stub.emit({ type: "run.started", properties: { runId, sessionID: sessionId, model: "scripted/slow" } })
  const now = Date.now()
  const summary = {
    runId,
    sessionId,
    seq: 5,
    startedAt: now - 1000,
    finishedAt: now,
    classification: "local_instance_reload",
    provider: { chunks: 3, progress: true },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects"] },
    missing: [],
  }
  const incident = {
    runId,
    sessionId,
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    origin: {
      kind: "shutdown",
      signal: "SIGTERM",
      catchall: "PROMPT-CANARY from the remote",
      provenance: { complete: true, missing: [] },
    },
    links: [{ hop: "lifecycle", status: "present" }],
    missing: Array.from({ length: 20_000 }, (_, i) => `origin.field_${i}`),
    alsoRequestedBy: [],
    retry: { safe: true, basis: [] },
    extra: { prompt: "PROMPT-CANARY" },
  }
  stub.emit({ type: "run.finished", properties: { summary, incident } })
  const local_ = await finishedRun(local, sessionId, localRunId)
  expect(local_.classification).toBe("remote_interrupted")
  const exported = await local.call("GET", `/session/${sessionId}/export`)
  expect(exported.status).toBe(200)
  const text = JSON.stringify(exported.body)
  expect(text).not.toContain("PROMPT-CANARY")
  expect(text.length).toBeLessThan(100_000)
  const remoteChain = exported.body.incidents.find((chain: any) => chain.runId === localRunId).remote.chain
  expect(remoteChain.origin).not.toHaveProperty("catchall")
  expect(remoteChain.origin).toMatchObject({ kind: "shutdown", signal: "SIGTERM" })
  expect(remoteChain.missing.length).toBeLessThanOrEqual(32)
})

// ---------------------------------------------------------------------------------------------
// Shutdown of the local server while a forwarded run is in flight (a real server process).

test("SIGTERM of a server with a forwarded run in flight: after a restart the run is no crash evidence; its chain names the local shutdown", async () => {
  const remote = await startTestServer({ tickMs: 50 })
  servers.push(remote)
  const dataDir = tempDir("oc-data-fwd-")
  const env = { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: remote.url } } }) }
  const first = await spawnServer(dataDir, env)
  const dir = remote.project()
  const headers = {
    "content-type": "application/json",
    "x-opencode-workspace": "w1",
    "x-opencode-directory": encodeURIComponent(dir),
  }
  const sessionId = (
    (await (await fetch(`${first.url}/session`, { method: "POST", headers, body: "{}" })).json()) as { id: string }
  ).id
  const prompt = await fetch(`${first.url}/session/${sessionId}/prompt`, {
    method: "POST",
    headers,
    body: JSON.stringify({ text: "hello", model: "scripted/slow" }),
  })
  const runId = ((await prompt.json()) as { runId: string }).runId
  await waitFor(async () => {
    const messages = await remote.call("GET", `/session/${sessionId}/message`)
    return (messages.body as any[]).some((m) => m.info.role === "assistant" && m.parts.some((p: any) => p.text))
  })

  first.proc.kill("SIGTERM")
  expect(await first.exited).toBe(0)
  // The remote's run was not ours to stop: it is still running there.
  expect(
    (await remote.call("GET", `/session/${sessionId}/run`)).body.find((run: any) => run.runId === runId)?.status,
  ).toBe("running")

  const second = await spawnServer(dataDir, env)
  try {
    const doc = (await (await fetch(`${second.url}/session/${sessionId}/export`)).json()) as any
    expect(doc.diagnostics.crashes.map((crash: any) => crash.runId)).not.toContain(runId)
    const run = doc.diagnostics.runs.find((r: any) => r.runId === runId)
    expect(run.classification).toBe("remote_interrupted")
    const chain = doc.incidents.find((c: any) => c.runId === runId)
    expect(chain.verdict).not.toBe("crash_evidence")
    expect(chain.origin).toMatchObject({ kind: "shutdown", signal: "SIGTERM" })
    expect(chain.classification).toBe("remote_interrupted")
  } finally {
    second.proc.kill("SIGTERM")
    await second.exited
    rmSync(dataDir, { recursive: true, force: true })
  }
}, 60_000)

/** Another process holding `BEGIN EXCLUSIVE` on the data dir's database until told to commit. */
async function lockDatabase(dataDir: string): Promise<{ release(): Promise<void>; proc: ChildProcess }> {
  const script = `
    const Database = require("better-sqlite3")
    const db = new Database(process.argv[1], { timeout: 5000 })
    db.exec("BEGIN EXCLUSIVE")
    db.prepare("INSERT INTO meta (key, value) VALUES ('locker', '1') ON CONFLICT(key) DO UPDATE SET value = value || '1'").run()
    process.stdout.write("locked\\n")
    process.stdin.on("data", () => { db.exec("COMMIT"); db.close(); process.stdout.write("released\\n"); process.exit(0) })
  `
  const proc = spawn(process.execPath, ["-e", script, path.join(dataDir, "opencode.db")], {
    cwd: path.resolve(import.meta.dirname, ".."),
    stdio: ["pipe", "pipe", "inherit"],
  })
  let out = ""
  proc.stdout!.on("data", (chunk) => (out += chunk))
  await waitFor(() => out.includes("locked"), 10_000)
  return {
    proc,
    async release() {
      proc.stdin!.write("go\n")
      await waitFor(() => out.includes("released"), 10_000)
    },
  }
}
