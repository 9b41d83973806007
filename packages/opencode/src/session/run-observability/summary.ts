/**
 * A run's summary (hop 5): its classification from the interrupt on its signal, the facts retry
 * safety is judged from, and what is missing when the run was closed without a cause.
 */
import { decideStop, type RunOutcome } from "../../provenance/classification.ts"
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
    model: cut(run.model, MAX_MODEL_REF),
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
    model: cut(String(run.model), MAX_MODEL_REF),
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
