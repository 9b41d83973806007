import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { createOpenAIProvider, excerptOf, providerFromEnv, sseData } from "../../src/provider/openai.ts"
import { ProviderError, type ProviderEvent, type ProviderRequest } from "../../src/provider/provider.ts"

const API_KEY = "sk-canary-123"

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>

/** A real HTTP server on 127.0.0.1 that speaks the OpenAI streaming protocol per test. */
let server: Server
let baseUrl: string
let handler: Handler
let received: Array<{ method?: string; url?: string; headers: IncomingMessage["headers"]; body: any }>

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => (body += chunk))
    req.on("end", () => {
      received.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: body ? JSON.parse(body) : undefined,
      })
      void handler(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

beforeEach(() => {
  received = []
  handler = (_req, res) => {
    res.statusCode = 500
    res.end("no handler")
  }
})

function startEventStream(res: ServerResponse) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
}
function sendEvent(res: ServerResponse, data: unknown) {
  res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)
}
function textChunk(content: string, finish_reason: string | null = null) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta: { content }, finish_reason }],
  }
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function request(
  signal: AbortSignal = new AbortController().signal,
  extra: Partial<ProviderRequest> = {},
): ProviderRequest {
  return { model: "gpt-test", messages: [{ role: "user", content: "hello" }], tools: [], signal, ...extra }
}

async function collect(stream: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const events: ProviderEvent[] = []
  for await (const event of stream) events.push(event)
  return events
}

async function failureOf(stream: AsyncIterable<ProviderEvent>): Promise<{ error: unknown; events: ProviderEvent[] }> {
  const events: ProviderEvent[] = []
  try {
    for await (const event of stream) events.push(event)
  } catch (error) {
    return { error, events }
  }
  throw new Error(`expected the stream to fail; got ${JSON.stringify(events)}`)
}

describe("openai provider against a real streaming server", () => {
  it("streams text deltas and finishes with stop; sends a well-formed request", async () => {
    handler = async (_req, res) => {
      startEventStream(res)
      res.write(": keep-alive comment\n\n")
      sendEvent(res, { choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] })
      sendEvent(res, textChunk("Hel"))
      await pause(5)
      sendEvent(res, textChunk("lo"))
      sendEvent(res, textChunk("", "stop"))
      sendEvent(res, "[DONE]")
      res.end()
    }
    const provider = createOpenAIProvider({ baseUrl: `${baseUrl}/`, apiKey: API_KEY })
    expect(provider.id).toBe("openai")
    const events = await collect(
      provider.stream(
        request(undefined, {
          messages: [
            { role: "system", content: "be brief" },
            { role: "user", content: "write a file" },
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: "call_1", name: "write", input: { path: "a.txt", content: "x" } }],
            },
            { role: "tool", toolCallId: "call_1", content: "wrote 1 bytes" },
          ],
          tools: [
            {
              name: "write",
              description: "Write a file",
              parameters: { type: "object", properties: { path: { type: "string" } } },
            },
          ],
        }),
      ),
    )
    expect(events).toEqual([
      { type: "text", text: "Hel" },
      { type: "text", text: "lo" },
      { type: "finish", reason: "stop" },
    ])

    expect(received).toHaveLength(1)
    const sent = received[0]
    expect(sent.method).toBe("POST")
    expect(sent.url).toBe("/v1/chat/completions")
    expect(sent.headers.authorization).toBe(`Bearer ${API_KEY}`)
    expect(sent.body.stream).toBe(true)
    expect(sent.body.model).toBe("gpt-test")
    expect(sent.body.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "write a file" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "write", arguments: JSON.stringify({ path: "a.txt", content: "x" }) },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "wrote 1 bytes" },
    ])
    expect(sent.body.tools).toEqual([
      {
        type: "function",
        function: {
          name: "write",
          description: "Write a file",
          parameters: { type: "object", properties: { path: { type: "string" } } },
        },
      },
    ])
  })

  it("omits tools and the authorization header when there are none", async () => {
    handler = (_req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("ok", "stop"))
      sendEvent(res, "[DONE]")
      res.end()
    }
    await collect(createOpenAIProvider({ baseUrl }).stream(request()))
    expect(received[0].headers.authorization).toBeUndefined()
    expect(received[0].body).not.toHaveProperty("tools")
  })

  it("accumulates streamed tool-call fragments by index into tool_call events", async () => {
    handler = async (_req, res) => {
      startEventStream(res)
      const toolDelta = (tool_calls: unknown[], finish_reason: string | null = null) => ({
        choices: [{ index: 0, delta: { tool_calls }, finish_reason }],
      })
      sendEvent(res, textChunk("Let me write."))
      sendEvent(
        res,
        toolDelta([{ index: 0, id: "call_a", type: "function", function: { name: "write", arguments: "" } }]),
      )
      sendEvent(res, toolDelta([{ index: 0, function: { arguments: '{"path":"a.t' } }]))
      await pause(5)
      sendEvent(
        res,
        toolDelta([{ index: 1, id: "call_b", type: "function", function: { name: "read", arguments: '{"path":' } }]),
      )
      sendEvent(res, toolDelta([{ index: 0, function: { arguments: 'xt","content":"hi\\n"}' } }]))
      sendEvent(res, toolDelta([{ index: 1, function: { arguments: '"b.txt"}' } }]))
      sendEvent(res, { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })
      sendEvent(res, { choices: [], usage: { prompt_tokens: 3, completion_tokens: 9 } })
      sendEvent(res, "[DONE]")
      res.end()
    }
    const events = await collect(createOpenAIProvider({ baseUrl, apiKey: API_KEY }).stream(request()))
    expect(events).toEqual([
      { type: "text", text: "Let me write." },
      { type: "tool_call", call: { id: "call_a", name: "write", input: { path: "a.txt", content: "hi\n" } } },
      { type: "tool_call", call: { id: "call_b", name: "read", input: { path: "b.txt" } } },
      { type: "finish", reason: "tool_calls" },
    ])
  })

  it("maps finish reasons", async () => {
    for (const [wire, mapped] of [
      ["length", "length"],
      ["content_filter", "other"],
    ] as const) {
      handler = (_req, res) => {
        startEventStream(res)
        sendEvent(res, textChunk("x", wire))
        sendEvent(res, "[DONE]")
        res.end()
      }
      const events = await collect(createOpenAIProvider({ baseUrl }).stream(request()))
      expect(events.at(-1)).toEqual({ type: "finish", reason: mapped })
    }
  })

  it("fails with provider_bad_response when tool-call arguments are not JSON", async () => {
    handler = (_req, res) => {
      startEventStream(res)
      sendEvent(res, {
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, id: "call_x", function: { name: "write", arguments: '{"path": ' } }] },
            finish_reason: "tool_calls",
          },
        ],
      })
      sendEvent(res, "[DONE]")
      res.end()
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request()))
    expect(error).toBeInstanceOf(ProviderError)
    expect((error as ProviderError).code).toBe("provider_bad_response")
  })

  it("fails with provider_bad_response for an event that is not JSON", async () => {
    handler = (_req, res) => {
      startEventStream(res)
      sendEvent(res, "{not json")
      res.end()
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request()))
    expect((error as ProviderError).code).toBe("provider_bad_response")
  })

  it("turns a 401 into provider_http_error with the status, and never leaks the API key", async () => {
    handler = (_req, res) => {
      res.writeHead(401, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          error: {
            message: `Incorrect API key provided: ${API_KEY}. Check your key.`,
            type: "invalid_request_error",
            code: "invalid_api_key",
          },
        }),
      )
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl, apiKey: API_KEY }).stream(request()))
    expect(error).toBeInstanceOf(ProviderError)
    const providerError = error as ProviderError
    expect(providerError.code).toBe("provider_http_error")
    expect(providerError.status).toBe(401)
    expect(providerError.message).toContain("401")
    expect(providerError.message).toContain("Incorrect API key provided")
    expect(providerError.message).toContain("[redacted:")
    expect(providerError.message).not.toContain(API_KEY)
    expect(providerError.message).not.toContain("canary")
    expect(JSON.stringify(providerError)).not.toContain(API_KEY)
  })

  it("keeps only a short excerpt of a large 500 body, with planted secrets scrubbed", async () => {
    handler = (_req, res) => {
      res.writeHead(500, { "content-type": "text/plain" })
      res.end(`upstream exploded; password=hunter2 token: sk-canary-999 ${"x".repeat(50_000)}`)
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl, apiKey: API_KEY }).stream(request()))
    const providerError = error as ProviderError
    expect(providerError.code).toBe("provider_http_error")
    expect(providerError.status).toBe(500)
    expect(providerError.message.length).toBeLessThan(250)
    expect(providerError.message).toContain("upstream exploded")
    expect(providerError.message).not.toContain("hunter2")
    expect(providerError.message).not.toContain("sk-canary")
  })

  it("turns a mid-stream socket destroy into provider_disconnected, after yielding what arrived", async () => {
    handler = async (_req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("partial"))
      await pause(20)
      res.socket?.destroy()
    }
    const { error, events } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request()))
    expect(events).toEqual([{ type: "text", text: "partial" }])
    expect(error).toBeInstanceOf(ProviderError)
    expect((error as ProviderError).code).toBe("provider_disconnected")
  })

  it("treats a body that ends cleanly but without [DONE] or finish_reason as provider_disconnected", async () => {
    handler = (_req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("cut"))
      res.end()
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request()))
    expect((error as ProviderError).code).toBe("provider_disconnected")
  })

  it("turns a refused connection into provider_unavailable", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const { error } = await failureOf(
      createOpenAIProvider({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY }).stream(request()),
    )
    expect(error).toBeInstanceOf(ProviderError)
    expect((error as ProviderError).code).toBe("provider_unavailable")
    expect((error as ProviderError).message).not.toContain(API_KEY)
  })

  it("rejects promptly with the abort reason when aborted mid-stream", async () => {
    let serverSawClose = false
    handler = (req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("first"))
      // Then keep the connection open with no output, like a slow model.
      res.on("close", () => (serverSawClose = true))
    }
    const controller = new AbortController()
    const iterator = createOpenAIProvider({ baseUrl }).stream(request(controller.signal))[Symbol.asyncIterator]()
    expect((await iterator.next()).value).toEqual({ type: "text", text: "first" })
    const pending = iterator.next()
    const reason = new Error("local_instance_reload")
    const abortedAt = Date.now()
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    expect(Date.now() - abortedAt).toBeLessThan(200)
    await pause(50)
    expect(serverSawClose).toBe(true)
  })

  it("rejects with the abort reason when aborted before the response arrives", async () => {
    handler = () => {
      // Never answer.
    }
    const controller = new AbortController()
    const reason = new Error("user cancel")
    setTimeout(() => controller.abort(reason), 30)
    const { error } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request(controller.signal)))
    expect(error).toBe(reason)
  })

  it("rejects a 200 JSON (non-stream) answer as provider_bad_response", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ choices: [{ message: { content: "hi" } }] }))
    }
    const { error } = await failureOf(createOpenAIProvider({ baseUrl }).stream(request()))
    expect((error as ProviderError).code).toBe("provider_bad_response")
  })
})

describe("sseData", () => {
  function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder()
    return new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
        controller.close()
      },
    })
  }
  async function dataOf(chunks: string[]): Promise<string[]> {
    const out: string[] = []
    for await (const data of sseData(streamOf(chunks), new AbortController().signal)) out.push(data)
    return out
  }

  it("handles LF, CRLF split across chunks, CR, comments, other fields and multi-line data", async () => {
    expect(
      await dataOf(["data: a\n", "\ndata: b\r", "\n\r\n: comment\r\nevent: x\rdata: c\r\rdata: d1\ndata:d2\n\n"]),
    ).toEqual(["a", "b", "c", "d1\nd2"])
  })

  it("splits a multi-byte character across chunks correctly", async () => {
    const bytes = new TextEncoder().encode("data: héllo\n\n")
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 8))
        controller.enqueue(bytes.subarray(8))
        controller.close()
      },
    })
    const out: string[] = []
    for await (const data of sseData(stream, new AbortController().signal)) out.push(data)
    expect(out).toEqual(["héllo"])
  })

  it("delivers a final event that lacks its blank line", async () => {
    expect(await dataOf(["data: [DONE]"])).toEqual(["[DONE]"])
  })
})

describe("excerptOf", () => {
  it("redacts the configured key, sk- keys, bearer tokens and secret-named values", () => {
    const text = excerptOf(
      'key my-own-key-value; Authorization: Bearer abc.def; {"api_key":"zzz"} sk-live-abcdef',
      "my-own-key-value",
    )
    expect(text).not.toMatch(/my-own-key-value|abc\.def|zzz|sk-live/)
    expect(text).toContain("[redacted:api_key]")
  })

  it("never cuts a marker in half, wherever the cut falls", () => {
    for (let pad = 0; pad < 40; pad++) {
      const text = excerptOf(`${"x".repeat(130 + pad)} sk-live-abcdefghij and more words after it ${"y".repeat(400)}`)
      expect(text.endsWith("…"), `pad ${pad}`).toBe(true)
      // Every bracket opens a whole marker: no "[redac" left at the cut.
      expect(text.slice(0, -1), `pad ${pad}`).toMatch(/^[^[\]]*(?:\[redacted:[a-z_]+\][^[\]]*)*$/)
    }
  })
})

describe("providerFromEnv", () => {
  it("is undefined when neither OPENAI_BASE_URL nor OPENAI_API_KEY is set", () => {
    expect(providerFromEnv({})).toBeUndefined()
  })

  it("builds the openai provider from OPENAI_BASE_URL alone (local servers need no key)", async () => {
    handler = (_req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk("from env", "stop"))
      sendEvent(res, "[DONE]")
      res.end()
    }
    const provider = providerFromEnv({ OPENAI_BASE_URL: baseUrl })
    expect(provider?.id).toBe("openai")
    const events = await collect(provider!.stream(request()))
    expect(events[0]).toEqual({ type: "text", text: "from env" })
  })

  it("defaults the base URL to api.openai.com when only the key is set", async () => {
    const calls: Array<{ url: string; authorization: string | null }> = []
    const recordingFetch: typeof fetch = async (input, init) => {
      calls.push({ url: String(input), authorization: new Headers(init?.headers).get("authorization") })
      return new Response("data: [DONE]\n\n", { status: 200, headers: { "content-type": "text/event-stream" } })
    }
    const provider = providerFromEnv({ OPENAI_API_KEY: "sk-from-env" }, { fetch: recordingFetch })
    expect(provider?.id).toBe("openai")
    expect(await collect(provider!.stream(request()))).toEqual([{ type: "finish", reason: "stop" }])
    expect(calls).toEqual([{ url: "https://api.openai.com/v1/chat/completions", authorization: "Bearer sk-from-env" }])
  })
})
