/**
 * Free text from outside never reaches a diagnostics-only export: a provider's error body that
 * echoes the prompt (at the start of the answer or mid-stream), a tool name the model made up,
 * a tool call id that is not an id, and the version string of the `x-opencode-client` header.
 * Only allow-listed tokens are kept: our error codes, the HTTP status, a provider's own error
 * code when it is a plain token, known tool names, digests and the client kind.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { finishedRun, startApp, type TestServer } from "../harness.ts"
import { sendEvent, startEventStream, startFakeOpenAI, textChunk, type FakeOpenAI } from "./fake-openai.ts"

const CANARY = {
  prompt: "cnry-prompt-9f3a",
  toolName: "cnry-toolname-b7e1",
  badArgsTool: "cnry-argstool-41c2",
  callId: "cnry callid 5d5d",
  client: "cnry-clientver-7e0c",
} as const

const PROMPT = `please ${CANARY.prompt} now`
const CLIENT = { "x-opencode-client": `app/${CANARY.client}` }

function leaks(value: unknown): string[] {
  const text = JSON.stringify(value).toLowerCase()
  return Object.entries(CANARY)
    .filter(([, canary]) => text.includes(canary.toLowerCase()))
    .map(([name]) => name)
}

let fake: FakeOpenAI
let server: TestServer
const docs: Record<string, any> = {}
const full: Record<string, any> = {}
const summaries: Record<string, any> = {}

beforeAll(async () => {
  fake = await startFakeOpenAI({
    // The provider refuses the prompt and quotes it back, with its own error code.
    echo400: (body, _req, res) => {
      const prompt = body.messages.at(-1).content
      res.writeHead(400, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          error: {
            message: `Your prompt "${prompt}" was flagged`,
            type: "invalid_request_error",
            code: "content_policy_violation",
          },
        }),
      )
    },
    // The same, as an error event in the middle of the stream.
    echoStream: (body, _req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("Thinking"))
      sendEvent(res, { error: { message: `cannot continue "${body.messages.at(-1).content}"`, code: "server_error" } })
      res.end()
    },
    // A made-up tool (with an id that is not an id), then a plain answer.
    unknownTool: (body, _req, res) => {
      startEventStream(res)
      if (body.messages.at(-1)?.role === "tool") sendEvent(res, textChunk("ok", "stop"))
      else
        sendEvent(res, {
          choices: [
            {
              index: 0,
              delta: {
                tool_calls: [{ index: 0, id: CANARY.callId, function: { name: CANARY.toolName, arguments: "{}" } }],
              },
              finish_reason: "tool_calls",
            },
          ],
        })
      sendEvent(res, "[DONE]")
      res.end()
    },
    // A tool call whose arguments are not JSON: the error names the call, never the made-up tool.
    badArgs: (_body, _req, res) => {
      startEventStream(res)
      sendEvent(res, {
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [{ index: 0, id: "call_1", function: { name: CANARY.badArgsTool, arguments: "{not json" } }],
            },
            finish_reason: "tool_calls",
          },
        ],
      })
      res.end()
    },
  })
  server = await startApp({ env: { OPENAI_BASE_URL: fake.baseUrl } })
  for (const model of ["echo400", "echoStream", "unknownTool", "badArgs"]) {
    const directory = server.project()
    const session = await server.call("POST", "/session", { directory, body: {}, headers: CLIENT })
    const prompt = await server.call("POST", `/session/${session.body.id}/prompt`, {
      directory,
      body: { text: PROMPT, model: `openai/${model}` },
      headers: CLIENT,
    })
    expect(prompt.status).toBe(200)
    summaries[model] = await finishedRun(server, session.body.id, prompt.body.runId)
    docs[model] = (
      await server.call("GET", `/session/${session.body.id}/export?content=diagnostics`, { headers: CLIENT })
    ).body
    full[model] = (await server.call("GET", `/session/${session.body.id}/export`, { headers: CLIENT })).body
  }
}, 60_000)

afterAll(async () => {
  await server?.close()
  await fake?.close()
})

describe("positive controls: the canaries reached the server", () => {
  test("the provider saw the prompt and the full export holds it", () => {
    expect(JSON.stringify(fake.received)).toContain(CANARY.prompt)
    expect(leaks(full.echo400.messages)).toContain("prompt")
  })

  test("the runs ended as each scenario intends", () => {
    expect(summaries.echo400.classification).toBe("provider_error")
    expect(summaries.echoStream.classification).toBe("provider_error")
    expect(summaries.unknownTool.classification).toBe("completed")
    expect(summaries.badArgs.classification).toBe("provider_error")
  })
})

describe("the diagnostics-only export keeps allow-listed tokens only", () => {
  test("no canary anywhere in any diagnostics-only document", () => {
    for (const [model, doc] of Object.entries(docs)) expect(leaks(doc), model).toEqual([])
  })

  test("no canary in the run summaries the API serves either", () => {
    for (const [model, summary] of Object.entries(summaries)) expect(leaks(summary), model).toEqual([])
  })

  test("a provider's refusal keeps our code, the HTTP status and its own error code", () => {
    const chain = docs.echo400.incidents.find((c: any) => c.runId === summaries.echo400.runId)
    expect(chain.error).toMatchObject({ code: "provider_http_error", class: "ProviderError", status: 400 })
    expect(chain.error.excerpt).toBe("provider answered HTTP 400 (content_policy_violation)")
    const stream = docs.echoStream.incidents.find((c: any) => c.runId === summaries.echoStream.runId)
    expect(stream.error).toMatchObject({
      code: "provider_http_error",
      excerpt: "provider reported an error mid-stream (server_error)",
    })
  })

  test("a tool call with arguments that are not JSON is named by its position only", () => {
    const chain = docs.badArgs.incidents.find((c: any) => c.runId === summaries.badArgs.runId)
    expect(chain.error).toMatchObject({
      code: "provider_bad_response",
      excerpt: "tool call #0 has arguments that are not valid JSON",
    })
  })

  test("a made-up tool becomes unknown_tool with a digest, and an id that is not an id a digest", () => {
    const parts = docs.unknownTool.messages.flatMap((m: any) => m.parts).filter((p: any) => p.type === "tool")
    expect(parts).toHaveLength(1)
    expect(parts[0].tool).toMatch(/^unknown_tool:[a-f0-9]{16}$/)
    expect(parts[0].callID).toMatch(/^call_[a-f0-9]{16}$/)
    expect(parts[0].state.status).toBe("error")
  })

  test("the client header keeps its kind; a version that is not a version is dropped", () => {
    const requests = docs.echo400.diagnostics.requests
    expect(requests.length).toBeGreaterThan(0)
    for (const request of requests) {
      expect(request.clientKind).toBe("app")
      expect(request.clientVersion).toBeUndefined()
    }
  })
})
