/**
 * A prompt's model reference is free text (any `openai/<up to 128 characters>`). The server's
 * records keep it only when `modelToken` (the rule `explain --otlp` applies to a file's model)
 * takes it for a token reference; a key-shaped one is recorded as `openai/[redacted:model]`: in
 * the run summary (the export's diagnostics, the journal) and in the run's OTLP span, which
 * then names the provider only.
 */
import Database from "better-sqlite3"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it, test } from "vitest"
import { modelToken } from "../../src/provenance/export-records.ts"
import { recordedModel } from "../../src/session/run-observability/summary.ts"
import { finishedRun, startApp, waitFor, type TestServer } from "../harness.ts"
import { startFakeOpenAI, type FakeOpenAI } from "../export/fake-openai.ts"
import { type Receiver, receivedSpans, startReceiver } from "./otlp-receiver.ts"

const KEY = "sk-cnrymodelkey4f1a9b"
const MODEL = `openai/${KEY}`

describe("recordedModel", () => {
  it("keeps a reference made of tokens as it is, a version pin included", () => {
    for (const ref of [
      "scripted/slow",
      "openai/gpt-4o-2024-08-06",
      "openrouter/meta-llama/llama-3.1-70b",
      "openai/ft:gpt-4o-mini-2024-07-18:my-org:custom:9abcDEF1",
      "openai/llama3.1:8b",
      "vertex/claude-3-5-sonnet@20240620",
    ])
      expect(recordedModel(ref)).toBe(ref)
  })

  it("takes only digits for a version pin: a user, a password or a host after an @ is no name", () => {
    for (const ref of ["openai/u:pw@example.com", "openai/alice@example", "openai/name@20240620x"])
      expect(recordedModel(ref)).toBe("openai/[redacted:model]")
  })

  it("keeps the provider of a key-, path- or URL-shaped reference beside a marker", () => {
    expect(recordedModel(MODEL)).toBe("openai/[redacted:model]")
    expect(recordedModel("openai/ghp_0a1b2c3d4e5f6a7b8c9d0e1f")).toBe("openai/[redacted:model]")
    expect(recordedModel("openai/../../home/me/.env")).toBe("openai/[redacted:model]")
    expect(recordedModel("openai/https://u:pw@example.com")).toBe("openai/[redacted:model]")
    // No provider worth keeping: the marker alone.
    expect(recordedModel("home/me/notes")).toBe("[redacted:model]")
    expect(recordedModel("a1b2c3d4e5f6a7b8c9d0")).toBe("[redacted:model]")
  })

  it("keeps a name longer than a token when no part of it is a key, cut to the record's bound", () => {
    const name = "m".repeat(128 - "openai/".length)
    expect(recordedModel(`openai/${name}`)).toBe(`openai/${name}`)
    expect(recordedModel(`openai/${"m".repeat(200)}`)).toBe(`openai/${"m".repeat(120)}…`)
  })

  it("finds a key anywhere in a long name", () => {
    expect(recordedModel(`openai/${KEY}${"m".repeat(100)}`)).toBe("openai/[redacted:model]")
    expect(recordedModel(`openai/${"m".repeat(100)}-${KEY}`)).toBe("openai/[redacted:model]")
    expect(recordedModel(`openai/${"m".repeat(100)}${KEY.slice(3)}`)).toBe("openai/[redacted:model]")
  })
})

describe("through a run, end to end", () => {
  let fake: FakeOpenAI
  let receiver: Receiver
  let server: TestServer
  let sessionId: string
  let runId: string

  beforeAll(async () => {
    fake = await startFakeOpenAI({}) // every model answers 404: the run ends as provider_error
    receiver = await startReceiver()
    server = await startApp({
      env: {
        OPENAI_BASE_URL: fake.baseUrl,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      },
    })
    const dir = server.project()
    sessionId = (await server.call("POST", "/session", { directory: dir, body: {} })).body.id
    const prompt = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "hello", model: MODEL },
    })
    expect(prompt.status).toBe(200)
    runId = prompt.body.runId
    await finishedRun(server, sessionId, runId)
    await waitFor(() => receivedSpans(receiver).some((span) => span.attributes["app.run.id"] === runId), 10_000)
  }, 30_000)

  afterAll(async () => {
    await server?.close()
    await receiver?.close()
    await fake?.close()
  })

  test("positive control: the model reached the provider, and the file rule refuses it", () => {
    expect(modelToken(MODEL)).toBeUndefined()
    expect(fake.received.map((body) => body.model)).toContain(KEY)
  })

  test("the diagnostics-only export keeps the provider and a marker, never the model", async () => {
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    expect(doc.diagnostics.runs.map((run: any) => run.model)).toEqual(["openai/[redacted:model]"])
    expect(JSON.stringify(doc.diagnostics)).not.toContain(KEY)
    expect(JSON.stringify(doc.incidents)).not.toContain(KEY)
  })

  test("no journal row of the run carries the secret-shaped model: its start and its end name the marker", () => {
    const db = new Database(path.join(server.dataDir, "opencode.db"), { readonly: true })
    try {
      const rows = db.prepare("SELECT kind, data FROM journal").all() as { kind: string; data: string }[]
      for (const kind of ["run.started", "run.finished"]) {
        const row = rows.find((candidate) => candidate.kind === kind)
        expect(row?.data, kind).toContain("openai/[redacted:model]")
      }
      expect(rows.filter((row) => row.data.includes(KEY)).map((row) => row.kind)).toEqual([])
    } finally {
      db.close()
    }
  })

  test("the run's OTLP span names the provider only", () => {
    const run = receivedSpans(receiver).find(
      (span) => span.name === "invoke_agent" && span.attributes["app.run.id"] === runId,
    )!
    expect(run.attributes["gen_ai.provider.name"]).toBe("openai")
    expect(run.attributes["gen_ai.request.model"]).toBeUndefined()
    const bytes = receiver.requests.map((request) => request.body.toString("utf8")).join("\n")
    expect(bytes).not.toContain(KEY)
  })
})
