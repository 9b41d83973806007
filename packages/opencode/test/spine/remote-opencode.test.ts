/**
 * Forwarding to an opencode server. opencode answers `prompt_async` with 204 and no run id, and
 * speaks only its own events (`session.status`, `session.idle`, `message.updated`,
 * `server.instance.disposed`). The local record of the forwarded run starts when the prompt is
 * forwarded and ends from those events: a run whose remote instance is disposed is
 * `remote_interrupted` here, a run that goes idle with a completed answer is `completed`.
 *
 * The first tests use a loopback stub with opencode's recorded event shapes (opencode-stub.ts).
 * The last runs the real `opencode serve` when OPENCODE_REFERENCE_BIN names its binary.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import os from "node:os"
import path from "node:path"
import { afterEach, expect, test } from "vitest"
import { finishedRun, incidentOf, startApp, waitFor, type TestServer } from "../harness.ts"
import { startOpencodeStub, type OpencodeStub } from "./opencode-stub.ts"

const servers: TestServer[] = []
const stubs: OpencodeStub[] = []
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
  await Promise.all(stubs.splice(0).map((stub) => stub.close()))
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function forwardingTo(url: string): Promise<TestServer> {
  const local = await startApp({
    env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { oc: { url } } }) },
  })
  servers.push(local)
  return local
}

const ws = { "x-opencode-workspace": "oc" }
const opencodePrompt = { parts: [{ type: "text", text: "hello" }], model: { providerID: "stub", modelID: "slow" } }

async function onlyRun(local: TestServer, sessionId: string): Promise<any> {
  let runs: any[] = []
  await waitFor(async () => {
    runs = (await local.call("GET", `/session/${sessionId}/run`)).body
    return Array.isArray(runs) && runs.length > 0
  })
  expect(runs).toHaveLength(1)
  return runs[0]
}

test("prompt_async forwarded to opencode, whose instance is then disposed: the local session has the run, remote_interrupted, with an incident", async () => {
  const stub = await startOpencodeStub()
  stubs.push(stub)
  const local = await forwardingTo(stub.url)
  const dir = local.project()

  const session = await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })
  expect(session.status).toBe(200)
  const sessionId = session.body.id
  const prompt = await local.call("POST", `/session/${sessionId}/prompt_async`, {
    directory: dir,
    headers: ws,
    body: opencodePrompt,
  })
  expect(prompt.status).toBe(204)
  // The run is recorded from the moment the prompt is forwarded, before the remote says anything.
  const run = await onlyRun(local, sessionId)
  expect(run.status).toBe("running")
  expect(run.model).toBe("stub/slow")

  await stub.streamed(sessionId)
  stub.dispose("/tmp/project", sessionId)
  const summary = await finishedRun(local, sessionId, run.runId)
  expect(summary.classification).toBe("remote_interrupted")
  expect(summary.interrupt).toMatchObject({ kind: "remote", workspaceId: "oc", phase: "provider_streaming" })
  expect(summary.visibleOutput).toBe(true)
  // Tool side effects on the remote are not known here: never "safe".
  expect(summary.retry.safe).toBe("unknown")
  const chain = await incidentOf(local, sessionId, run.runId)
  expect(chain.verdict).toBe("remote_reported")
  expect(chain.origin).toMatchObject({ kind: "forwarded_remote", workspaceId: "oc" })
})

test("the instance disposed before opencode reports anything: still remote_interrupted (session.idle before server.instance.disposed is not a completion)", async () => {
  const stub = await startOpencodeStub()
  stubs.push(stub)
  const local = await forwardingTo(stub.url)
  const dir = local.project()
  const sessionId = (await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })).body.id
  expect(
    (
      await local.call("POST", `/session/${sessionId}/prompt_async`, {
        directory: dir,
        headers: ws,
        body: opencodePrompt,
      })
    ).status,
  ).toBe(204)
  const run = await onlyRun(local, sessionId)
  // opencode goes idle without a completed answer, then announces the dispose.
  stub.emit({ type: "session.status", properties: { sessionID: sessionId, status: { type: "idle" } } })
  stub.emit({ type: "session.idle", properties: { sessionID: sessionId } })
  stub.dispose("/tmp/project")
  const summary = await finishedRun(local, sessionId, run.runId)
  expect(summary.classification).toBe("remote_interrupted")
})

test("a forwarded opencode run that finishes is completed, with no incident", async () => {
  const stub = await startOpencodeStub()
  stubs.push(stub)
  const local = await forwardingTo(stub.url)
  const dir = local.project()
  const sessionId = (await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })).body.id
  expect(
    (
      await local.call("POST", `/session/${sessionId}/prompt_async`, {
        directory: dir,
        headers: ws,
        body: opencodePrompt,
      })
    ).status,
  ).toBe(204)
  const run = await onlyRun(local, sessionId)
  await waitFor(() => stub.requests.some((r) => r.path.endsWith("/prompt_async")))
  // Let the stub's busy and assistant message arrive before it finishes.
  await new Promise((resolve) => setTimeout(resolve, 100))
  stub.finish(sessionId)
  const summary = await finishedRun(local, sessionId, run.runId)
  expect(summary.classification).toBe("completed")
  expect(await incidentOf(local, sessionId, run.runId)).toBeUndefined()
})

// ---------------------------------------------------------------------------------------------
// The real opencode binary (opt-in: OPENCODE_REFERENCE_BIN=/path/to/opencode, e.g. opencode-ai 1.18.33 from npm).

const REFERENCE_BIN = process.env.OPENCODE_REFERENCE_BIN
const referenceSkip = !REFERENCE_BIN
  ? "OPENCODE_REFERENCE_BIN is not set (point it at an opencode binary, e.g. `npm install opencode-ai@1.18.33` outside the repo)"
  : !existsSync(REFERENCE_BIN)
    ? `OPENCODE_REFERENCE_BIN=${REFERENCE_BIN} does not exist`
    : undefined

/** An OpenAI-compatible provider on loopback that streams slowly, so the run is in flight when disposed. */
async function slowProvider(): Promise<{ baseUrl: string; server: Server }> {
  const server = createServer(async (req, res) => {
    let raw = ""
    for await (const chunk of req) raw += chunk
    const body = JSON.parse(raw || "{}")
    res.writeHead(200, { "content-type": "text/event-stream" })
    let n = 0
    const timer = setInterval(() => {
      const chunk = {
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: body.model,
        choices: [{ index: 0, delta: { content: `tick ${++n} ` }, finish_reason: null }],
      }
      res.write(`data: ${JSON.stringify(chunk)}\n\n`)
    }, 100)
    res.on("close", () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server }
}

async function startReferenceOpencode(
  bin: string,
  providerUrl: string,
): Promise<{ url: string; project: string; proc: ChildProcess }> {
  const home = mkdtempSync(path.join(os.tmpdir(), "oc-ref-home-"))
  const project = mkdtempSync(path.join(os.tmpdir(), "oc-ref-proj-"))
  const config = {
    autoupdate: false,
    share: "disabled",
    provider: {
      stub: {
        npm: "@ai-sdk/openai-compatible",
        name: "Stub",
        options: { baseURL: providerUrl, apiKey: "x" },
        models: { slow: { name: "slow" } },
      },
    },
    model: "stub/slow",
  }
  const proc = spawn(bin, ["serve", "--port", "0", "--hostname", "127.0.0.1"], {
    cwd: project,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_DATA_HOME: path.join(home, "data"),
      XDG_CONFIG_HOME: path.join(home, "config"),
      XDG_CACHE_HOME: path.join(home, "cache"),
      XDG_STATE_HOME: path.join(home, "state"),
      OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  })
  cleanups.push(() => {
    proc.kill("SIGKILL")
    rmSync(home, { recursive: true, force: true })
    rmSync(project, { recursive: true, force: true })
  })
  let out = ""
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("opencode did not start within 60 s")), 60_000)
    proc.stdout!.on("data", (chunk) => {
      out += chunk
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    proc.on("exit", () => reject(new Error("opencode exited before listening")))
  })
  return { url, project, proc }
}

test.skipIf(referenceSkip !== undefined)(
  `the real opencode binary: prompt_async forwarded, opencode disposes its instance, the local run is remote_interrupted${referenceSkip ? ` (skipped: ${referenceSkip})` : ""}`,
  async () => {
    const provider = await slowProvider()
    cleanups.push(() => {
      provider.server.closeAllConnections()
      provider.server.close()
    })
    const opencode = await startReferenceOpencode(REFERENCE_BIN!, provider.baseUrl)
    const local = await forwardingTo(opencode.url)
    const dir = opencode.project // the directory exists on both sides (one machine)

    const session = await local.call("POST", "/session", { directory: dir, headers: ws, body: {} })
    expect(session.status).toBe(200)
    const sessionId = session.body.id
    const prompt = await local.call("POST", `/session/${sessionId}/prompt_async`, {
      directory: dir,
      headers: ws,
      body: opencodePrompt,
    })
    expect(prompt.status).toBe(204)
    const run = await onlyRun(local, sessionId)
    // Wait until opencode streams the answer (its stored text part stays empty while the text
    // arrives as deltas: wait for the provider to have streamed), then dispose its instance
    // directly (not through us).
    await waitFor(
      async () => {
        const messages = await fetch(`${opencode.url}/session/${sessionId}/message`, {
          headers: { "x-opencode-directory": encodeURIComponent(dir) },
        }).then((r) => r.json())
        return (messages as any[]).some(
          (m) => m.info.role === "assistant" && m.parts?.some((p: any) => p.type === "text"),
        )
      },
      60_000,
      200,
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    const disposed = await fetch(`${opencode.url}/instance/dispose`, {
      method: "POST",
      headers: { "x-opencode-directory": encodeURIComponent(dir) },
    })
    expect(disposed.status).toBe(200)

    const summary = await finishedRun(local, sessionId, run.runId, 30_000)
    expect(summary.classification).toBe("remote_interrupted")
    expect(summary.interrupt).toMatchObject({ kind: "remote", workspaceId: "oc", phase: "provider_streaming" })
    expect(summary.visibleOutput).toBe(true)
    const chain = await incidentOf(local, sessionId, run.runId)
    expect(chain.origin).toMatchObject({ kind: "forwarded_remote", workspaceId: "oc" })
  },
  120_000,
)
