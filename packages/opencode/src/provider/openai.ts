/**
 * OpenAI-compatible streaming chat completions (`POST {baseUrl}/chat/completions`, SSE).
 * Failures become `ProviderError`s whose messages carry a status and at most a short,
 * scrubbed excerpt of the error body — never the API key. An abort is rethrown as the
 * signal's own reason, so the run is classified by whoever aborted it.
 */
import { scrubSecrets } from "../provenance/secret-rules.ts"
import { cutText } from "../provenance/plain-text.ts"
import { abortReason } from "./scripted.ts"
import {
  ProviderError,
  providerErrorToken,
  type ChatMessage,
  type Provider,
  type ProviderEvent,
  type ProviderRequest,
  type ToolCallRequest,
  type ToolSpec,
} from "./provider.ts"

interface OpenAIProviderOptions {
  /** e.g. `https://api.openai.com/v1` (a trailing slash is ignored). */
  baseUrl: string
  /** Sent as a bearer token when set; local OpenAI-compatible servers often need none. */
  apiKey?: string
  /** Defaults to Node's global fetch (undici). */
  fetch?: typeof globalThis.fetch
}

const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

/** Longest error-body excerpt kept in a ProviderError message. */
const ERROR_EXCERPT_CHARS = 160
/** How much of an error body is read at most (the rest is discarded). */
const ERROR_BODY_READ_BYTES = 8 * 1024

/** Connection-level failures that mean "nothing is listening / reachable there". */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
])

export function createOpenAIProvider(options: OpenAIProviderOptions): Provider {
  const baseUrl = options.baseUrl.replace(/\/+$/, "")
  const apiKey = options.apiKey || undefined
  const doFetch = options.fetch ?? globalThis.fetch

  async function* stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const { signal } = request
    if (signal.aborted) throw abortReason(signal)

    const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" }
    if (apiKey) headers.authorization = `Bearer ${apiKey}`
    const body: Record<string, unknown> = {
      model: request.model,
      messages: request.messages.map(toOpenAIMessage),
      stream: true,
    }
    if (request.tools.length > 0) body.tools = request.tools.map(toOpenAITool)

    let response: Response
    try {
      response = await doFetch(`${baseUrl}/chat/completions`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal,
      })
    } catch (error) {
      if (signal.aborted) throw abortReason(signal)
      throw connectError(error)
    }

    if (!response.ok) {
      const { excerpt, token } = await readErrorBody(response, signal, apiKey)
      throw new ProviderError(
        "provider_http_error",
        `provider answered HTTP ${response.status}${excerpt ? `: ${excerpt}` : ""}`,
        response.status,
        `provider answered HTTP ${response.status}${token ? ` (${token})` : ""}`,
      )
    }
    const contentType = response.headers.get("content-type") ?? ""
    if (!response.body || contentType.includes("application/json")) {
      await response.body?.cancel().catch(() => {})
      throw new ProviderError(
        "provider_bad_response",
        `expected an event stream, got "${contentType.slice(0, 64) || "no body"}"`,
        response.status,
        "expected an event stream",
      )
    }

    // Streamed tool calls arrive as fragments keyed by index: the id and name first, the JSON arguments in pieces.
    const pendingCalls = new Map<number, { id?: string; name?: string; args: string }>()
    let finishReason: string | undefined

    for await (const data of sseData(response.body, signal)) {
      if (data === "[DONE]") {
        yield* finish(pendingCalls, finishReason ?? (pendingCalls.size > 0 ? "tool_calls" : "stop"))
        return
      }
      const chunk = parseChunk(data)
      if (chunk.error) {
        const token = errorTokenOf(chunk.error)
        throw new ProviderError(
          "provider_http_error",
          `provider reported an error mid-stream: ${excerptOf(JSON.stringify(chunk.error), apiKey)}`,
          undefined,
          `provider reported an error mid-stream${token ? ` (${token})` : ""}`,
        )
      }
      const choice = chunk.choices?.[0]
      if (!choice) continue // e.g. a trailing usage-only chunk
      const delta = choice.delta ?? {}
      if (typeof delta.content === "string" && delta.content.length > 0) yield { type: "text", text: delta.content }
      for (const fragment of delta.tool_calls ?? []) {
        const index = typeof fragment.index === "number" ? fragment.index : 0
        const call = pendingCalls.get(index) ?? { args: "" }
        if (fragment.id) call.id = fragment.id
        if (fragment.function?.name) call.name = (call.name ?? "") + fragment.function.name
        if (fragment.function?.arguments) call.args += fragment.function.arguments
        pendingCalls.set(index, call)
      }
      if (choice.finish_reason) finishReason = choice.finish_reason
      // Servers may send usage after finish_reason; the answer is complete at finish_reason, so stop here.
      if (finishReason) {
        yield* finish(pendingCalls, finishReason)
        return
      }
    }
    // The body ended with neither [DONE] nor a finish_reason: the connection dropped mid-answer.
    throw new ProviderError("provider_disconnected", "provider stream ended before the answer finished")
  }

  return { id: "openai", stream }
}

/** The openai provider configured from `OPENAI_BASE_URL` / `OPENAI_API_KEY`, or undefined when neither is set. */
export function providerFromEnv(
  env: Record<string, string | undefined> = process.env,
  options: Pick<OpenAIProviderOptions, "fetch"> = {},
): Provider | undefined {
  const apiKey = env.OPENAI_API_KEY || undefined
  const baseUrl = env.OPENAI_BASE_URL || (apiKey ? DEFAULT_OPENAI_BASE_URL : undefined)
  if (!baseUrl) return undefined
  return createOpenAIProvider({ baseUrl, apiKey, fetch: options.fetch })
}

// ---------------------------------------------------------------------------------------------
// Request mapping

function toOpenAIMessage(message: ChatMessage): Record<string, unknown> {
  switch (message.role) {
    case "system":
    case "user":
      return { role: message.role, content: message.content }
    case "assistant":
      if (!message.toolCalls?.length) return { role: "assistant", content: message.content }
      return {
        role: "assistant",
        // OpenAI expects null content when the turn was only tool calls.
        content: message.content || null,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) },
        })),
      }
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content }
  }
}

function toOpenAITool(tool: ToolSpec): Record<string, unknown> {
  return { type: "function", function: { name: tool.name, description: tool.description, parameters: tool.parameters } }
}

// ---------------------------------------------------------------------------------------------
// Response parsing

interface ChatCompletionChunk {
  error?: unknown
  choices?: Array<{
    delta?: {
      content?: string | null
      tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }>
    }
    finish_reason?: string | null
  }>
}

function parseChunk(data: string): ChatCompletionChunk {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    throw new ProviderError("provider_bad_response", "provider sent an event that is not JSON")
  }
  if (typeof parsed !== "object" || parsed === null)
    throw new ProviderError("provider_bad_response", "provider sent an event that is not an object")
  return parsed as ChatCompletionChunk
}

function* finish(
  pendingCalls: Map<number, { id?: string; name?: string; args: string }>,
  reason: string,
): Generator<ProviderEvent> {
  const indexes = [...pendingCalls.keys()].sort((a, b) => a - b)
  for (const index of indexes) {
    const fragment = pendingCalls.get(index)!
    if (!fragment.name) throw new ProviderError("provider_bad_response", `tool call #${index} has no function name`)
    let input: unknown
    try {
      input = fragment.args.trim() === "" ? {} : JSON.parse(fragment.args)
    } catch {
      // The name is the model's text: the log may see it, diagnostics name the call by position.
      throw new ProviderError(
        "provider_bad_response",
        `tool call #${index} (${fragment.name.slice(0, 64)}) has arguments that are not valid JSON`,
        undefined,
        `tool call #${index} has arguments that are not valid JSON`,
      )
    }
    const call: ToolCallRequest = { id: fragment.id ?? `call_${index}`, name: fragment.name, input }
    yield { type: "tool_call", call }
  }
  yield { type: "finish", reason: mapFinishReason(reason) }
}

function mapFinishReason(reason: string): "stop" | "tool_calls" | "length" | "other" {
  switch (reason) {
    case "stop":
      return "stop"
    case "tool_calls":
    case "function_call":
      return "tool_calls"
    case "length":
      return "length"
    default:
      return "other"
  }
}

/**
 * Yields the `data` payload of each server-sent event. Lines may end in LF, CRLF or CR and
 * may be split anywhere across network chunks; multi-line data is joined with "\n".
 * Read failures become `provider_disconnected`, or the abort reason once the signal fired.
 */
export async function* sseData(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  let dataLines: string[] = []

  function* takeLines(final: boolean): Generator<string> {
    for (;;) {
      const end = buffer.search(/[\r\n]/)
      if (end === -1) break
      // A lone trailing CR may be the first half of a CRLF split across chunks: wait for more.
      if (buffer[end] === "\r" && end === buffer.length - 1 && !final) break
      const line = buffer.slice(0, end)
      buffer = buffer.slice(end + (buffer[end] === "\r" && buffer[end + 1] === "\n" ? 2 : 1))
      if (line === "") {
        if (dataLines.length > 0) yield dataLines.join("\n")
        dataLines = []
      } else if (line.startsWith("data:")) {
        dataLines.push(line.slice(line.startsWith("data: ") ? 6 : 5))
      }
      // Comments (":") and other fields (event:, id:, retry:) carry nothing we use.
    }
  }

  try {
    for (;;) {
      let result: Awaited<ReturnType<typeof reader.read>>
      try {
        result = await reader.read()
      } catch (error) {
        if (signal.aborted) throw abortReason(signal)
        throw new ProviderError(
          "provider_disconnected",
          `provider connection failed mid-stream${errorCodeSuffix(error)}`,
        )
      }
      if (signal.aborted) throw abortReason(signal)
      if (result.done) {
        buffer += decoder.decode()
        yield* takeLines(true)
        if (buffer.startsWith("data:")) dataLines.push(buffer.slice(buffer.startsWith("data: ") ? 6 : 5))
        if (dataLines.length > 0) yield dataLines.join("\n")
        return
      }
      buffer += decoder.decode(result.value, { stream: true })
      yield* takeLines(false)
    }
  } finally {
    // Release the connection when the consumer stops early (finish, error, break).
    reader.cancel().catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

function connectError(error: unknown): ProviderError {
  if (error instanceof TypeError && /invalid url|failed to parse url/i.test(error.message)) {
    return new ProviderError("provider_not_configured", "provider base URL is not a valid URL")
  }
  // fetch refuses some ports outright (the "bad ports" of the Fetch standard): a configuration problem.
  if ((error as { cause?: { message?: unknown } } | undefined)?.cause?.message === "bad port") {
    return new ProviderError("provider_not_configured", "provider base URL uses a port that fetch refuses")
  }
  const code = errorCode(error)
  if (code && UNAVAILABLE_CODES.has(code))
    return new ProviderError("provider_unavailable", `could not connect to the provider (${code})`)
  return new ProviderError(
    "provider_disconnected",
    `provider connection failed before a response${errorCodeSuffix(error)}`,
  )
}

/** The system error code (ECONNREFUSED, ...) of a fetch failure, which undici puts on `cause` (sometimes nested in an AggregateError). */
function errorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>()
  let current: unknown = error
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current)
    const code = (current as { code?: unknown }).code
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code)) return code
    const nested = (current as { errors?: unknown[] }).errors
    if (Array.isArray(nested) && nested.length > 0) {
      const inner = errorCode(nested[0])
      if (inner) return inner
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function errorCodeSuffix(error: unknown): string {
  const code = errorCode(error)
  return code ? ` (${code})` : ""
}

/** The error body as a scrubbed excerpt (for the log) and the provider's own error code, when it is a plain token. */
async function readErrorBody(
  response: Response,
  signal: AbortSignal,
  apiKey: string | undefined,
): Promise<{ excerpt: string; token?: string | undefined }> {
  if (!response.body) return { excerpt: "" }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < ERROR_BODY_READ_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    if (signal.aborted) throw abortReason(signal)
    // A body that fails to arrive still leaves the status, which is the useful part.
  } finally {
    reader.cancel().catch(() => {})
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, ERROR_BODY_READ_BYTES))
  // Prefer the structured `error.message` OpenAI-compatible servers send over the raw body.
  let message = text
  let token: string | undefined
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; code?: unknown }
    const candidate = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? parsed.message)
    if (typeof candidate === "string") message = candidate
    token = errorTokenOf(parsed.error) ?? providerErrorToken(parsed.code)
  } catch {
    // not JSON: keep the text
  }
  return { excerpt: excerptOf(message, apiKey), token }
}

/** `error.code`, else `error.type`, of an OpenAI-style error object, when it is a plain token. */
function errorTokenOf(error: unknown): string | undefined {
  if (!error || typeof error !== "object") return undefined
  const { code, type } = error as { code?: unknown; type?: unknown }
  return providerErrorToken(code) ?? providerErrorToken(type)
}

/**
 * A short, single-line excerpt with secrets replaced by `[redacted:KIND]` markers: the
 * configured key itself and every shape of the one secret table (`provenance/secret-rules.ts`).
 */
export function excerptOf(text: string, apiKey?: string): string {
  const scrubbed = scrubSecrets(text, [{ value: apiKey, kind: "api_key" }])
    .replace(/\s+/g, " ")
    .trim()
  if (scrubbed.length <= ERROR_EXCERPT_CHARS) return scrubbed
  // Never cut through a marker, so a truncated excerpt cannot reveal part of a secret.
  let cut = cutText(scrubbed, ERROR_EXCERPT_CHARS + 1, "units").slice(0, -1)
  // The cut may fall inside "[redacted:" itself, so look at the last bracket, not the last whole prefix.
  const open = cut.lastIndexOf("[")
  if (open > cut.lastIndexOf("]") && scrubbed.startsWith("[redacted:", open)) cut = cut.slice(0, open)
  return `${cut}…`
}
