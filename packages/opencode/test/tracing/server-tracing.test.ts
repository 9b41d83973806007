/**
 * The server's trace export with a real run: a reload that interrupts an active `scripted/slow`
 * run reaches a loopback receiver as the incident's trace (rooted at the click, the request's
 * traceparent giving its trace id) and the run's own trace, linked both ways; `/health` counts
 * it. Canary secrets planted in the prompt, a tool's input and the project's path never appear
 * in the bytes sent. Each disabling variable gives zero requests; a receiver that hangs delays
 * no request and no close, and shutdown stays bounded.
 */
import { mkdirSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import type { ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import {
  appHeaders,
  callServer,
  finishedRun,
  spawnServer,
  startRun,
  startApp,
  tempDir,
  waitFor,
  type TestServer,
} from "../harness.ts"
import { installProvider } from "../spine/spine-helpers.ts"
import { receivedSpans, type Receiver, startReceiver } from "./otlp-receiver.ts"

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
const CLICK_SPAN = "00f067aa0ba902b7"

let server: TestServer | undefined
let receiver: Receiver | undefined
afterEach(async () => {
  await server?.close()
  await receiver?.close()
  server = receiver = undefined
})

describe("a reload of an active run", () => {
  test("reaches the receiver as the click's trace and the run's trace, linked both ways", async () => {
    receiver = await startReceiver()
    server = await startApp({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
    })
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    const reload = await server.call("POST", "/instance/reload", {
      directory: dir,
      headers: { ...appHeaders("instance.reload", "act_reload_click"), traceparent: `00-${TRACE_ID}-${CLICK_SPAN}-01` },
    })
    expect(reload.status).toBe(200)
    expect((await finishedRun(server, sessionId, runId)).classification).toBe("local_instance_reload")
    await waitFor(() => receivedSpans(receiver!).some((span) => span.name.startsWith("interrupt")))

    const spans = receivedSpans(receiver)
    const incident = spans.filter((span) => span.traceId === TRACE_ID)
    const byId = new Map(incident.map((span) => [span.spanId, span]))
    const interrupt = incident.find((span) => span.name.startsWith("interrupt"))!
    const names: string[] = []
    for (let span: (typeof spans)[number] | undefined = interrupt; span; span = byId.get(span.parentSpanId))
      names.unshift(span.name)
    expect(names).toEqual(["user_action instance.reload", "POST /instance/reload", "lifecycle.reload", interrupt.name])
    // The root is the app's own span for the click, the one its traceparent named.
    expect(byId.get(CLICK_SPAN)?.name).toBe("user_action instance.reload")
    expect(interrupt.attributes).toMatchObject({
      "error.type": "cancelled",
      "app.verdict": "diagnosed",
      "app.provenance.complete": true,
      "app.retry.safe": "true",
    })
    const run = spans.find((span) => span.name === "invoke_agent" && span.attributes["app.run.id"] === runId)!
    expect(run.attributes).toMatchObject({
      "gen_ai.conversation.id": sessionId,
      "gen_ai.provider.name": "scripted",
      "gen_ai.request.model": "slow",
    })
    expect(run.status.code).toBe(2)
    expect(run.events.map((event) => event.name)).toEqual(["run.interrupted"])
    expect(run.links[0]).toMatchObject({ traceId: TRACE_ID, spanId: interrupt.spanId })
    expect(interrupt.links[0]).toMatchObject({ traceId: run.traceId, spanId: run.spanId })

    await waitFor(async () => (await server!.call("GET", "/health")).body.tracing?.exported >= 1)
    expect((await server.call("GET", "/health")).body.tracing).toMatchObject({ dropped: 0, failed: 0 })
  })
})

describe("the allow-list", () => {
  test("no prompt, tool input or path leaves in the exported bytes", async () => {
    receiver = await startReceiver()
    server = await startApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
    const { host } = server.running
    const CANARY = { prompt: "CANARY-PROMPT-7f3a", tool: "CANARY-TOOL-INPUT-91bc", path: "CANARY-PATH-d04e" }
    installProvider(host, "canary", async function* (request: ProviderRequest): AsyncGenerator<ProviderEvent> {
      if (request.messages.at(-1)?.role !== "tool") {
        yield { type: "text", text: "reading" }
        yield { type: "tool_call", call: { id: "call_canary1", name: "read", input: { path: `${CANARY.tool}.txt` } } }
        yield { type: "finish", reason: "tool_calls" }
        return
      }
      yield { type: "text", text: "done" }
      yield { type: "finish", reason: "stop" }
    })
    const dir = path.join(tempDir(), CANARY.path)
    mkdirSync(dir)
    const session = await server.call("POST", "/session", { directory: dir, body: {} })
    const prompt = await server.call("POST", `/session/${session.body.id}/prompt`, {
      directory: dir,
      body: { text: `${CANARY.prompt} sk-live-${CANARY.prompt}`, model: "canary/model" },
    })
    await finishedRun(server, session.body.id, prompt.body.runId)
    await waitFor(() => receivedSpans(receiver!).some((span) => span.name === "execute_tool read"))
    const bytes = Buffer.concat(receiver.requests.map((request) => request.body)).toString("latin1")
    for (const canary of Object.values(CANARY)) expect(bytes).not.toContain(canary)
    expect(bytes).not.toContain(dir)
  })
})

describe("disabled", () => {
  for (const [name, env] of [
    ["no endpoint", {}],
    ["OTEL_SDK_DISABLED=true", { OTEL_SDK_DISABLED: "true" }],
    ["OTEL_TRACES_EXPORTER=none", { OTEL_TRACES_EXPORTER: "none" }],
  ] as const) {
    test(`${name}: zero requests, even after the shutdown's flush`, async () => {
      receiver = await startReceiver()
      const endpoint = name === "no endpoint" ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
      server = await startApp({ env: { ...endpoint, ...env } })
      const dir = server.project()
      const { sessionId, runId } = await startRun(server, dir)
      await server.call("POST", "/instance/reload", { directory: dir })
      await finishedRun(server, sessionId, runId)
      expect((await server.call("GET", "/health")).body.tracing).toBeUndefined()
      // The shutdown flushes whatever export queued: after it, any request would have been made.
      await server.close()
      server = undefined
      expect(receiver.requests).toEqual([])
    })
  }
})

describe("a receiver that hangs", () => {
  test("delays no request and no close; shutdown is bounded", async () => {
    receiver = await startReceiver()
    receiver.hang()
    server = await startApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
    const dir = server.project()
    const first = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
    await finishedRun(server, first.sessionId, first.runId)
    await waitFor(() => receiver!.requests.length === 1)
    // The export is stuck on the receiver; a run and its close go on as before.
    const { sessionId, runId } = await startRun(server, dir)
    const started = Date.now()
    expect((await server.call("POST", "/instance/reload", { directory: dir })).status).toBe(200)
    expect((await finishedRun(server, sessionId, runId)).classification).toBe("local_instance_reload")
    expect(Date.now() - started).toBeLessThan(2000)
    const closing = Date.now()
    await server.running.shutdown("api")
    expect(Date.now() - closing).toBeLessThan(5000)
  })
})

describe("a crash", () => {
  test("the next start's scan sends the crashed run: ended at its last evidence, linked to the scan", async () => {
    receiver = await startReceiver()
    const dataDir = tempDir("oc-data-")
    const dir = tempDir("oc-proj-")
    const spawned = await spawnServer(dataDir, { OPENCODE_HEARTBEAT_MS: "50" })
    const session = await callServer(spawned.url, "POST", "/session", dir, {})
    const prompt = await callServer(spawned.url, "POST", `/session/${session.body.id}/prompt`, dir, {
      text: "go",
      model: "scripted/slow",
    })
    const runId = prompt.body.runId as string
    await waitFor(async () => {
      const messages = await callServer(spawned.url, "GET", `/session/${session.body.id}/message`)
      return (messages.body as any[]).some((m) => m.info.role === "assistant" && m.parts.some((p: any) => p.text))
    })
    spawned.proc.kill("SIGKILL")
    await spawned.exited
    server = await startApp({ dataDir, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
    await waitFor(() => receivedSpans(receiver!).some((span) => span.name === "crash_scan"))
    const spans = receivedSpans(receiver)
    const scan = spans.find((span) => span.name === "crash_scan")!
    const run = spans.find((span) => span.name === "invoke_agent" && span.attributes["app.run.id"] === runId)!
    expect(scan.attributes["error.type"]).toBe("crash")
    expect(run.attributes["error.type"]).toBe("crash")
    expect(run.links[0]).toMatchObject({ traceId: scan.traceId, spanId: scan.spanId })
    // Ended at its last evidence, before the restart found it.
    expect(BigInt(run.endTimeUnixNano)).toBeLessThan(BigInt(scan.startTimeUnixNano))
  }, 30_000)
})
