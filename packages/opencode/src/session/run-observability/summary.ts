/**
 * A run's summary (hop 5): its classification from the interrupt on its signal, the facts retry
 * safety is judged from, and what is missing when the run was closed without a cause.
 */
import { classifyInterrupt, interruptMetaFromReason, type RunOutcome } from "../../provenance/classification.ts"
import { deriveRetry } from "../../provenance/retry.ts"
import { type ErrorFact, RunSummary } from "../../provenance/schemas.ts"
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
  const reason = input.abortedBeforeFinish ? run.signal.reason : undefined
  const meta = interruptMetaFromReason(reason)
  const classification = classifyInterrupt(meta, input.abortedBeforeFinish, input.outcome)
  const missing: string[] = []
  let closeSite: string | undefined
  if (classification === "unknown_interrupt") {
    missing.push("lifecycle_action")
    closeSite = closeSiteOf(reason) ?? (input.abortedBeforeFinish ? "abort_without_interrupt_meta" : "run_aborted_without_signal")
  }
  const tools = run.tools.map((tool) => ({ ...tool }))
  return RunSummary.parse({
    runId: run.runId,
    sessionId: run.sessionId,
    seq: input.seq,
    instance: run.instance,
    directoryKey: run.directoryKey,
    model: run.model,
    startedAt: run.startedAt,
    finishedAt: input.finishedAt ?? Date.now(),
    classification,
    ...(meta ? { interrupt: meta } : {}),
    alsoRequestedBy: run.alsoRequestedBy,
    provider: { ...run.provider },
    watchdog: { ...run.watchdog },
    visibleOutput: run.visibleOutput,
    tools,
    toolFactsRecorded: true,
    // Errors thrown after the signal aborted are consequences of the close, not kept as the cause.
    ...(input.error && !input.abortedBeforeFinish ? { error: input.error } : {}),
    retry: deriveRetry({ tools, toolFactsRecorded: true, visibleOutput: run.visibleOutput }),
    ...(closeSite ? { closeSite } : {}),
    missing,
  })
}

function closeSiteOf(reason: unknown): string | undefined {
  if (reason && typeof reason === "object" && "closeSite" in reason) {
    const site = (reason as { closeSite: unknown }).closeSite
    if (typeof site === "string" && /^[a-z0-9_.:-]{1,64}$/.test(site)) return site
  }
  return undefined
}
