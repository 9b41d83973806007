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

export type ProviderErrorCode =
  | "provider_http_error"
  | "provider_disconnected"
  | "provider_bad_response"
  | "provider_unavailable"
  | "provider_not_configured"
  | "model_not_found"

/** A provider failure. `message` is for logs only; diagnostics keep code, status and a scrubbed excerpt. */
export class ProviderError extends Error {
  override name = "ProviderError"
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** Splits `provider/model` (`scripted/slow`) into its parts. */
export function parseModelRef(ref: string): { providerId: string; model: string } | undefined {
  const slash = ref.indexOf("/")
  if (slash <= 0 || slash === ref.length - 1) return undefined
  return { providerId: ref.slice(0, slash), model: ref.slice(slash + 1) }
}
