/**
 * A run's summary (hop 5): its classification from the interrupt on its signal, the facts retry
 * safety is judged from, and what is missing when the run was closed without a cause.
 */
import { decideStop, type RunOutcome } from "../../provenance/classification.ts"
import { modelToken, unversioned } from "../../provenance/export-records.ts"
import { codeToken } from "../../provenance/foreign-text.ts"
import { deriveRetry } from "../../provenance/retry.ts"
import {
  type ErrorFact,
  MAX_ALSO_REQUESTED,
  MAX_MODEL_REF,
  MAX_SUMMARY_TOOLS,
  MAX_TOOL_FIELD,
  ProviderProgress,
  RunId,
  RunSummary,
  ToolFact,
  WatchdogState,
} from "../../provenance/schemas.ts"
import { cutText } from "../../provenance/plain-text.ts"
import type { RunState } from "../run-state.ts"

export interface SummaryInput {
  run: RunState
  outcome: RunOutcome
  /** Whether the signal was aborted before the run's final state was set. */
  abortedBeforeFinish: boolean
  error?: ErrorFact | undefined
  seq: number
  finishedAt?: number
}

/**
 * @example buildRunSummary({ run, outcome: "completed", abortedBeforeFinish: false, seq })
 */
export function buildRunSummary(input: SummaryInput): RunSummary {
  const { run } = input
  const { classification, interrupt, error } = decideStop(
    run.signal.reason,
    input.abortedBeforeFinish,
    input.outcome,
    input.error,
  )
  const missing: string[] = []
  let closeSite: string | undefined
  if (classification === "unknown_interrupt") {
    missing.push("lifecycle_action")
    closeSite = input.abortedBeforeFinish ? "abort_without_interrupt_meta" : "run_aborted_without_signal"
  }
  const kept = keptTools(run.tools)
  // Clamped, so only a bug can make this parse throw; the processor still falls back if it does.
  return RunSummary.parse({
    runId: run.runId,
    sessionId: run.sessionId,
    seq: input.seq,
    instance: run.instance,
    directoryKey: run.directoryKey,
    model: recordedModel(run.model),
    startedAt: run.startedAt,
    finishedAt: input.finishedAt ?? Date.now(),
    classification,
    ...(interrupt ? { interrupt } : {}),
    alsoRequestedBy: run.alsoRequestedBy.slice(0, MAX_ALSO_REQUESTED),
    provider: { ...run.provider },
    watchdog: { ...run.watchdog },
    visibleOutput: run.visibleOutput,
    ...kept,
    toolFactsRecorded: true,
    ...(error ? { error } : {}),
    // Judged from every tool the run started, kept or dropped.
    retry: deriveRetry({ tools: run.tools, toolFactsRecorded: true, visibleOutput: run.visibleOutput }),
    ...(closeSite ? { closeSite } : {}),
    missing,
    ...(run.resendOf ? { resendOf: run.resendOf } : {}),
  })
}

/**
 * The summary written when building the real one failed: the run's ids and times, what retry
 * safety can still be judged from its tool kinds, and an honest `unknown_interrupt` that names
 * the missing summary and where it was lost. Always parses for a run the processor created.
 *
 * @example fallbackRunSummary(run, { seq, closeSite: "summary_build_failed" })
 */
export function fallbackRunSummary(
  run: RunState,
  input: { seq: number; closeSite: string; finishedAt?: number },
): RunSummary {
  const kept = keptTools(run.tools)
  const tools = kept.tools.filter((tool) => ToolFact.safeParse(tool).success)
  const provider = ProviderProgress.safeParse(run.provider)
  const watchdog = WatchdogState.safeParse(run.watchdog)
  return RunSummary.parse({
    runId: run.runId,
    sessionId: run.sessionId,
    seq: input.seq,
    model: recordedModel(String(run.model)),
    startedAt: run.startedAt,
    finishedAt: input.finishedAt ?? Date.now(),
    classification: "unknown_interrupt",
    provider: provider.success ? provider.data : { chunks: 0, progress: false },
    watchdog: watchdog.success ? watchdog.data : { fired: false },
    visibleOutput: run.visibleOutput === true,
    tools,
    ...(kept.toolsDropped ? { toolsDropped: kept.toolsDropped } : {}),
    // A tool fact that does not parse is a fact not recorded, never a tool that did not run.
    toolFactsRecorded: tools.length === kept.tools.length,
    retry: deriveRetry({
      tools: run.tools,
      toolFactsRecorded: tools.length === kept.tools.length,
      visibleOutput: run.visibleOutput === true,
    }),
    closeSite: input.closeSite,
    missing: ["run_summary"],
    ...(RunId.safeParse(run.resendOf).success ? { resendOf: run.resendOf } : {}),
  })
}

/**
 * The model reference a run's records keep (its summary, the journal, the run's span): a prompt
 * names any `provider/<up to 128 characters>`, so a reference is kept only under `modelToken`'s
 * rule (the one `explain --otlp` applies to a file's model): a provider, then segments that are
 * tokens, no path, URL or key. A segment longer than a token is held to that rule 64 characters
 * at a time, and the record's own bound then cuts the reference, visibly. Anything else keeps
 * its provider, when that is a token, beside a marker: `openai/[redacted:model]`.
 *
 * @example recordedModel("scripted/slow") // "scripted/slow"; recordedModel("openai/sk-proj-0a1b2c3d4e5f6a7b8c") // "openai/[redacted:model]"
 */
export function recordedModel(ref: string): string {
  const [provider = "", ...segments] = ref.split("/")
  const providerKept = modelToken(provider) !== undefined
  if (modelToken(ref) !== undefined || (providerKept && segments.length > 0 && segments.every(isModelSegment)))
    return cut(ref, MAX_MODEL_REF)
  return providerKept && segments.length > 0 ? `${provider}/${REDACTED_MODEL}` : REDACTED_MODEL
}

const REDACTED_MODEL = "[redacted:model]"
/** The longest string a code token may be (`codeToken`). */
const TOKEN_WINDOW = 64

/**
 * A segment of a model reference that `modelToken` would take were it not too long: every
 * 64-character window of it is a token, which finds a key-shaped run wherever it lies.
 */
function isModelSegment(versioned: string): boolean {
  const segment = unversioned(versioned)
  if (segment === "" || /^\.+$/.test(segment)) return false
  for (let start = 0; start === 0 || start + TOKEN_WINDOW <= segment.length; start++)
    if (codeToken(segment.slice(start, start + TOKEN_WINDOW)) === undefined) return false
  return true
}

/** `text` cut to `max` UTF-16 units (the schema's bound), ending in "…" when cut, never inside a character. */
export function cut(text: string, max: number): string {
  return cutText(text, max, "units")
}

/**
 * The tools a summary keeps: all of them up to 64; beyond that side-effecting tools first (they
 * decide retry safety), still in the order they ran, and the rest counted in `toolsDropped`.
 *
 * @example keptTools(run.tools) // { tools: [...64], toolsDropped: 6 }
 */
export function keptTools(tools: readonly ToolFact[]): { tools: ToolFact[]; toolsDropped?: number } {
  const bounded = (tool: ToolFact): ToolFact => ({
    ...tool,
    callId: cut(tool.callId, MAX_TOOL_FIELD),
    name: cut(tool.name, MAX_TOOL_FIELD),
  })
  if (tools.length <= MAX_SUMMARY_TOOLS) return { tools: tools.map(bounded) }
  const keep = new Set<number>()
  for (const pass of [(tool: ToolFact) => tool.kind !== "read", () => true]) {
    tools.forEach((tool, index) => {
      if (keep.size < MAX_SUMMARY_TOOLS && pass(tool)) keep.add(index)
    })
  }
  return {
    tools: tools.flatMap((tool, index) => (keep.has(index) ? [bounded(tool)] : [])),
    toolsDropped: tools.length - keep.size,
  }
}
