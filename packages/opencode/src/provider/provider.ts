/**
 * The provider interface the processor drives. A provider turns a conversation into a stream
 * of events; it must stop promptly when `signal` aborts (throwing or returning), and report
 * failures as `ProviderError` so the run keeps a code and status, never a raw message.
 */
export type ChatMessage =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string; toolCalls?: ToolCallRequest[] }
  | { role: "tool"; toolCallId: string; content: string }

export interface ToolCallRequest {
  id: string
  name: string
  /** Parsed JSON arguments. */
  input: unknown
}

export interface ToolSpec {
  name: string
  description: string
  /** JSON Schema of the tool's input. */
  parameters: Record<string, unknown>
}

export type ProviderEvent =
  | { type: "text"; text: string }
  | { type: "tool_call"; call: ToolCallRequest }
  | { type: "finish"; reason: "stop" | "tool_calls" | "length" | "other" }

export interface ProviderRequest {
  /** The model name within the provider (`slow` for `scripted/slow`). */
  model: string
  messages: ChatMessage[]
  tools: ToolSpec[]
  signal: AbortSignal
}

export interface Provider {
  id: string
  stream(request: ProviderRequest): AsyncIterable<ProviderEvent>
}

type ProviderErrorCode =
  | "provider_http_error"
  | "provider_disconnected"
  | "provider_bad_response"
  | "provider_unavailable"
  | "provider_not_configured"
  | "model_not_found"

/**
 * A provider failure. `message` may quote what the provider answered (scrubbed, for logs);
 * `diagnostic` is what diagnostics keep: our own words with allow-listed tokens only (a status,
 * a provider's error code that is a plain token), never a body, a prompt echo or a tool name.
 */
export class ProviderError extends Error {
  override name = "ProviderError"
  readonly diagnostic: string
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly status?: number,
    /** Required whenever `message` quotes anything from outside; defaults to `message`. */
    diagnostic?: string,
  ) {
    super(message)
    this.diagnostic = diagnostic ?? message
  }
}

/** A provider's own error code (`invalid_api_key`), kept only when it is a plain token, not text. */
export function providerErrorToken(value: unknown): string | undefined {
  return typeof value === "string" && /^[a-z][a-z0-9_]{1,63}$/.test(value) ? value : undefined
}

/** Splits `provider/model` (`scripted/slow`) into its parts. */
export function parseModelRef(ref: string): { providerId: string; model: string } | undefined {
  const slash = ref.indexOf("/")
  if (slash <= 0 || slash === ref.length - 1) return undefined
  return { providerId: ref.slice(0, slash), model: ref.slice(slash + 1) }
}
