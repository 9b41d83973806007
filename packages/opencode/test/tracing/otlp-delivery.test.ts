/**
 * Trace export against a loopback OTLP/HTTP receiver: the URL each endpoint rule gives, the
 * content type of each protocol, the headers applied; both bodies decoded independently (JSON by
 * hand, protobuf from the proto's field numbers) and equal; 429/503 retried, 400 not; a receiver
 * that is down or hangs costs a bounded flush and moves the counters, nothing else.
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterEach, describe, expect, test } from "vitest"
import { readExport } from "../../src/provenance/index.ts"
import { exportRecords } from "../../src/provenance/export-records.ts"
import { traceSpans, type TraceSpan } from "../../src/provenance/trace-mapping.ts"
import { otlpSettingFromEnv, type OtlpConfig } from "../../src/tracing/otlp-config.ts"
import { createSpanSender } from "../../src/tracing/otlp-export.ts"
import { createTraceDelivery } from "../../src/tracing/trace-delivery.ts"
import { BIN, waitFor } from "../harness.ts"
import { deadUrl, decodeJson, decodeProtobuf, type Receiver, startReceiver } from "./otlp-receiver.ts"

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")

function fixtureSpans(): TraceSpan[] {
  const text = readFileSync(FIXTURE, "utf8")
  const result = readExport(text)
  if (!result.ok) throw new Error(result.error)
  const records = exportRecords(JSON.parse(text))
  return traceSpans({ chains: result.incidents, ...records, fallbackTimeMs: records.exportedAt ?? 0 })
}

function config(env: Record<string, string>): OtlpConfig {
  const setting = otlpSettingFromEnv(env)
  if (!setting.enabled) throw new Error(`not enabled: ${setting.reason}`)
  return setting.config
}

let receiver: Receiver
afterEach(async () => {
  await receiver?.close()
})

describe("endpoint, protocol and headers", () => {
  test("the generic endpoint gets /v1/traces, protobuf by default, headers applied", async () => {
    receiver = await startReceiver()
    const sender = createSpanSender(
      config({
        OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/base/`,
        OTEL_EXPORTER_OTLP_HEADERS: "x-team=a%20b,authorization=Bearer t1",
      }),
    )
    expect(await sender.send(fixtureSpans())).toEqual({ ok: true })
    await sender.shutdown()
    const [request] = receiver.requests
    expect(request!.path).toBe("/base/v1/traces")
    expect(request!.headers["content-type"]).toBe("application/x-protobuf")
    expect(request!.headers["x-team"]).toBe("a b")
    expect(request!.headers.authorization).toBe("Bearer t1")
  })

  test("the traces endpoint is used as is; http/json sends JSON", async () => {
    receiver = await startReceiver()
    const sender = createSpanSender(
      config({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9/never",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/path`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "team-opencode",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=dev,service.name=ignored",
      }),
    )
    expect(await sender.send(fixtureSpans())).toEqual({ ok: true })
    await sender.shutdown()
    const [request] = receiver.requests
    expect(request!.path).toBe("/custom/path")
    expect(request!.headers["content-type"]).toBe("application/json")
    const spans = decodeJson(request!.body)
    expect(spans[0]!.resource["service.name"]).toBe("team-opencode")
    expect(spans[0]!.resource["deployment.environment"]).toBe("dev")
  })
})

describe("the bodies", () => {
  test("JSON: the reload's trace is rooted at the click, with kinds, links, events and status", async () => {
    receiver = await startReceiver()
    const sender = createSpanSender(
      config({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }),
    )
    await sender.send(fixtureSpans())
    await sender.shutdown()
    const spans = decodeJson(receiver.requests[0]!.body)
    const interrupt = spans.find(
      (span) => span.attributes["app.run.id"] === "run_reload1" && span.name.startsWith("interrupt"),
    )!
    expect(interrupt.status.code).toBe(2)
    expect(interrupt.attributes["error.type"]).toBe("cancelled")
    // Walk the parents up to the root: interrupt → lifecycle.reload → POST /instance/reload → user_action.
    const byId = new Map(spans.map((span) => [span.spanId, span]))
    const names: string[] = []
    for (let span: (typeof spans)[number] | undefined = interrupt; span; span = byId.get(span.parentSpanId))
      names.unshift(span.name)
    expect(names).toEqual([
      expect.stringMatching(/^user_action /),
      "POST /instance/reload",
      "lifecycle.reload",
      interrupt.name,
    ])
    const request = spans.find((span) => span.name === "POST /instance/reload")!
    expect(request.kind).toBe(2) // SERVER
    expect(request.attributes["http.request.method"]).toBe("POST")
    expect(request.attributes["http.route"]).toBe("/instance/reload")
    // The run is its own trace, linked both ways with the interrupt.
    const run = spans.find((span) => span.name === "invoke_agent" && span.attributes["app.run.id"] === "run_reload1")!
    expect(run.traceId).not.toBe(interrupt.traceId)
    expect(run.status.code).toBe(2)
    expect(run.events.map((event) => event.name)).toEqual(["run.interrupted"])
    expect(run.links).toEqual([expect.objectContaining({ traceId: interrupt.traceId, spanId: interrupt.spanId })])
    expect(interrupt.links).toEqual([expect.objectContaining({ traceId: run.traceId, spanId: run.spanId })])
    expect(run.attributes["gen_ai.conversation.id"]).toMatch(/^ses_/)
    expect(run.attributes["gen_ai.operation.name"]).toBe("invoke_agent")
  })

  test("protobuf decodes, from the proto's own field numbers, to the same spans as JSON", async () => {
    receiver = await startReceiver()
    const spans = fixtureSpans()
    for (const protocol of ["http/json", "http/protobuf"]) {
      const sender = createSpanSender(
        config({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol }),
      )
      await sender.send(spans)
      await sender.shutdown()
    }
    const [json, proto] = receiver.requests
    const fromJson = decodeJson(json!.body)
    expect(fromJson.length).toBe(spans.length)
    expect(decodeProtobuf(proto!.body)).toEqual(fromJson)
  })
})

describe("failures", () => {
  test("503 and 429 are retried, then accepted", async () => {
    receiver = await startReceiver()
    receiver.answer(503, 429)
    const sender = createSpanSender(config({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }))
    expect(await sender.send(fixtureSpans())).toEqual({ ok: true })
    await sender.shutdown()
    expect(receiver.requests.length).toBe(3)
  }, 15_000)

  test("400 is not retried, and counts as failed", async () => {
    receiver = await startReceiver()
    receiver.answer(400)
    const delivery = createTraceDelivery(config({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }))
    delivery.enqueue(fixtureSpans)
    await waitFor(() => delivery.counts().failed === 1)
    // A second trace is delivered after it: the failure stopped nothing.
    delivery.enqueue(fixtureSpans)
    await waitFor(() => delivery.counts().exported === 1)
    expect(receiver.requests.length).toBe(2)
    await delivery.flush()
  })

  test("a receiver that is down: failed, counted, nothing thrown", async () => {
    receiver = await startReceiver()
    const delivery = createTraceDelivery(
      // Connection refused is retried as a network error: a short timeout bounds the retries.
      config({ OTEL_EXPORTER_OTLP_ENDPOINT: await deadUrl(), OTEL_EXPORTER_OTLP_TIMEOUT: "1000" }),
      { onError: () => {} },
    )
    delivery.enqueue(fixtureSpans)
    await waitFor(() => delivery.counts().failed === 1, 15_000)
    await delivery.flush()
  }, 20_000)

  test("a receiver that hangs: the flush returns at its bound, the rest is counted dropped", async () => {
    receiver = await startReceiver()
    receiver.hang()
    const delivery = createTraceDelivery(config({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }), { limit: 2 })
    for (let i = 0; i < 4; i++) delivery.enqueue(fixtureSpans)
    await waitFor(() => receiver.requests.length === 1)
    const started = Date.now()
    await delivery.flush(300)
    expect(Date.now() - started).toBeLessThan(2000)
    // One in flight, one queued then dropped at the flush, two dropped at the bound.
    expect(delivery.counts()).toMatchObject({ exported: 0, dropped: 3 })
  })
})

describe("opencode explain FILE --otlp", () => {
  const exec = promisify(execFile)
  async function explain(env: Record<string, string>, file = FIXTURE) {
    try {
      const { stdout, stderr } = await exec(process.execPath, [BIN, "explain", file, "--otlp"], {
        env: { PATH: process.env.PATH, ...env },
      })
      return { code: 0, stdout, stderr }
    } catch (err: any) {
      return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string }
    }
  }

  test("sends the file's chains and prints the trace ids it sent", async () => {
    receiver = await startReceiver()
    const result = await explain({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    const printed = result.stdout.trim().split("\n")
    const sent = new Set(decodeProtobuf(receiver.requests[0]!.body).map((span) => span.traceId))
    expect(new Set(printed)).toEqual(sent)
    expect(printed.length).toBeGreaterThan(4)
  })

  test("an upstream opencode export: its stopped messages as unknown provenance", async () => {
    receiver = await startReceiver()
    const result = await explain(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
      path.join(path.dirname(FIXTURE), "export-upstream-opencode.json"),
    )
    expect(result.code).toBe(0)
    const spans = decodeJson(receiver.requests[0]!.body)
    expect(spans.length).toBeGreaterThan(0)
    for (const span of spans) {
      expect(span.name).toBe("missing origin")
      expect(span.attributes["app.verdict"]).toBe("missing_provenance")
    }
  })

  test("no endpoint, a refusing receiver: one sentence and a non-zero exit", async () => {
    const none = await explain({})
    expect(none.code).toBe(2)
    expect(none.stderr).toBe(
      "opencode explain: --otlp needs a receiver: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318).\n",
    )
    receiver = await startReceiver()
    receiver.answer(400)
    const refused = await explain({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /^opencode explain: the receiver at http:\/\/127\.0\.0\.1:\d+\/v1\/traces did not accept the traces: .+\n$/,
    )
    expect(refused.stderr).not.toMatch(/^\s+at /m)
  })
})
