/**
 * The built-in scripted provider: deterministic models that reproduce the situations the
 * server must diagnose (a quick answer, a long stream to interrupt, a file-writing tool call,
 * an open connection with no output, a stall) without any network or API key.
 */
import { randomUUID } from "node:crypto"
import { ProviderError, type Provider, type ProviderEvent, type ProviderRequest } from "./provider.ts"

const SCRIPTED_MODELS = ["quick", "slow", "tool-write", "silent", "stall"] as const
type ScriptedModel = (typeof SCRIPTED_MODELS)[number]

interface ScriptedProviderOptions {
  /**
   * Length of one `slow` tick in milliseconds (default 500, so `slow` streams for ~30 s).
   * Every scripted delay scales with it, so tests pass a small value to run fast.
   */
  tickMs?: number
}

interface ScriptedProvider extends Provider {
  id: "scripted"
  /** The model names this provider knows (lets the registry reject a bad ref up front). */
  models: readonly ScriptedModel[]
}

const DEFAULT_TICK_MS = 500
const QUICK_CHUNK_MS = 20
const SLOW_CHUNKS = 60
/** How long a silent/stalled model sleeps between checks; a live timer keeps the process up like an open socket would. */
const IDLE_SLEEP_MS = 60_000

/** The error to throw for an aborted signal: its reason, or a standard AbortError when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError")
}

/**
 * Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. Both paths clear the
 * timer and remove the abort listener, so a long-lived signal never accumulates listeners.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal))
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortReason(signal))
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    signal.addEventListener("abort", onAbort, { once: true })
  })
}

export const SCRIPTED_TOOL_WRITE_INPUT = {
  path: "scripted-output.txt",
  content: "written by scripted/tool-write\n",
} as const

export function createScriptedProvider(options: ScriptedProviderOptions = {}): ScriptedProvider {
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS
  if (!(tickMs >= 0) || !Number.isFinite(tickMs))
    throw new RangeError(`tickMs must be a finite number >= 0, got ${tickMs}`)
  const scale = tickMs / DEFAULT_TICK_MS
  const delay = (ms: number) => ms * scale

  async function* quick(signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    for (const text of ["Hello", " from", " scripted/quick", "."]) {
      await sleep(delay(QUICK_CHUNK_MS), signal)
      yield { type: "text", text }
    }
    yield { type: "finish", reason: "stop" }
  }

  async function* slow(signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    for (let step = 1; step <= SLOW_CHUNKS; step++) {
      await sleep(delay(DEFAULT_TICK_MS), signal)
      yield { type: "text", text: `Working on step ${step} of ${SLOW_CHUNKS}.\n` }
    }
    yield { type: "finish", reason: "stop" }
  }

  /** Produces nothing until the signal aborts, then throws its reason. */
  async function idleUntilAborted(signal: AbortSignal): Promise<never> {
    for (;;) await sleep(IDLE_SLEEP_MS, signal)
  }

  async function* toolWrite(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    // Second turn (the tool result is in): keep streaming so the run can be interrupted after a side effect.
    if (request.messages.at(-1)?.role === "tool") {
      yield* slow(request.signal)
      return
    }
    await sleep(delay(QUICK_CHUNK_MS), request.signal)
    yield { type: "text", text: "I will write a file.\n" }
    yield {
      type: "tool_call",
      call: {
        id: `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
        name: "write",
        input: { ...SCRIPTED_TOOL_WRITE_INPUT },
      },
    }
    yield { type: "finish", reason: "tool_calls" }
  }

  async function* stall(signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    for (const text of ["Starting", " and then"]) {
      await sleep(delay(QUICK_CHUNK_MS), signal)
      yield { type: "text", text }
    }
    await idleUntilAborted(signal)
  }

  async function* stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    if (request.signal.aborted) throw abortReason(request.signal)
    switch (request.model) {
      case "quick":
        return yield* quick(request.signal)
      case "slow":
        return yield* slow(request.signal)
      case "tool-write":
        return yield* toolWrite(request)
      case "silent":
        return await idleUntilAborted(request.signal)
      case "stall":
        return yield* stall(request.signal)
      default:
        throw new ProviderError(
          "model_not_found",
          `unknown scripted model "${request.model.slice(0, 64)}"; known: ${SCRIPTED_MODELS.join(", ")}`,
          404,
        )
    }
  }

  return { id: "scripted", models: SCRIPTED_MODELS, stream }
}
