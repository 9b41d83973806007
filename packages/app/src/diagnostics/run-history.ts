/**
 * A session's run history: every run, newest first, with when it started, how long it ran and
 * how it ended in words, and the resend links between runs ("a resend of the run stopped at
 * 14:34:11", "resent at 14:35:02 → that run finished"). Pure: the run list and the incident
 * chains in, rows and words out, so each wording is unit-tested.
 */
import { type IncidentChain, latestResends, type RunSummary } from "opencode/provenance"
import type { RunRecord } from "../context/shapes.ts"
import { actionWords, classificationWords } from "./glossary.ts"
import { clock, duration } from "./story.ts"

export interface RunHistoryRow {
  runId: string
  startedAt: number
  finishedAt?: number
  /** How long it ran (finished runs only). */
  durationMs?: number
  running: boolean
  /** It ended without completing: it has an explanation to open. */
  stopped: boolean
  classification?: RunSummary["classification"]
  /** How it ended, in words: "finished", "stopped by a project reload you clicked", "still running". */
  ending: string
  /** The stopped run this one was sent again for. */
  resendOf?: string
  /** The latest run sent again for this one. */
  resentAs?: string
}

type IsOwn = (actionId: string | undefined) => boolean

/** Every run of the session, newest first. */
export function runHistory(
  runs: readonly RunRecord[],
  incidents: readonly IncidentChain[],
  isOwnAction: IsOwn,
): RunHistoryRow[] {
  const chains = new Map(incidents.map((chain) => [chain.runId, chain]))
  const resentAs = latestResendsOf(runs)
  return [...runs]
    .sort((a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : -1))
    .map((run) => {
      const classification = run.summary?.classification
      const running = run.status === "running"
      const finishedAt = run.summary?.finishedAt
      const resendOf = run.resendOf ?? run.summary?.resendOf
      const resend = resentAs.get(run.runId)
      return {
        runId: run.runId,
        startedAt: run.startedAt,
        ...(finishedAt !== undefined ? { finishedAt, durationMs: Math.max(0, finishedAt - run.startedAt) } : {}),
        running,
        stopped: !running && classification !== undefined && classification !== "completed",
        ...(classification ? { classification } : {}),
        ending: endingWords(run, chains.get(run.runId), isOwnAction),
        ...(resendOf ? { resendOf } : {}),
        ...(resend ? { resentAs: resend.runId } : {}),
      }
    })
}

/** Each run's latest resend, by the run it resent: a run's link is on its record, or on its summary once it has one. */
function latestResendsOf(runs: readonly RunRecord[]): Map<string, RunRecord> {
  return latestResends(runs.map((run) => ({ ...run, resendOf: run.resendOf ?? run.summary?.resendOf })))
}

/**
 * How a run ended, as the end of "This run …": who stopped it when the chain says so.
 *
 * @example endingWords(run, chain, isOwn) // "stopped by a project reload you clicked"
 */
export function endingWords(run: RunRecord, chain: IncidentChain | undefined, isOwnAction: IsOwn): string {
  if (run.status === "running") return "still running"
  const classification = run.summary?.classification
  if (!classification) return "ended, how was not recorded"
  if (classification === "completed") return "finished"
  const interrupt = run.summary?.interrupt
  const request =
    interrupt?.kind === "user_cancel"
      ? interrupt.request
      : interrupt?.lifecycle?.origin.kind === "api_route"
        ? interrupt.lifecycle.origin.request
        : undefined
  const verdict = chain?.verdict
  const attributed = verdict === undefined || verdict === "diagnosed" || verdict === "partially_diagnosed"
  if (attributed && request?.actionId && isOwnAction(request.actionId)) {
    if (classification === "user_cancelled") return "stopped by you (Stop)"
    return `${classificationWords(classification)}: you clicked ${actionWords(request.actionName)}`
  }
  return classificationWords(classification)
}

/** The start time and length, e.g. "14:34:02 · ran 9.5 s". */
export function runTimeWords(row: Pick<RunHistoryRow, "startedAt" | "durationMs" | "running">): string {
  if (row.running) return `${clock(row.startedAt)} · running`
  return `${clock(row.startedAt)}${row.durationMs !== undefined ? ` · ran ${duration(row.durationMs)}` : ""}`
}

interface ResendLinks {
  /** On a resend: the run it replaced, and when that run stopped. */
  of?: { runId: string; words: string }
  /** On a resent run: what its latest resend became. */
  as?: { runId: string; words: string; stopped: boolean }
}

/**
 * The panel's resend lines for one run: "A resend of the run stopped at 14:34:11." and
 * "Resent at 14:35:02 → that run finished." (or "did not finish either: …", or "is still running").
 */
export function resendLinks(
  runId: string,
  runs: readonly RunRecord[],
  chain?: Pick<IncidentChain, "resendOf" | "resentAs">,
): ResendLinks {
  const byId = new Map(runs.map((run) => [run.runId, run]))
  const self = byId.get(runId)
  const out: ResendLinks = {}
  const ofId = self?.resendOf ?? self?.summary?.resendOf ?? chain?.resendOf
  if (ofId) {
    const previous = byId.get(ofId)
    const stoppedAt = previous?.summary?.finishedAt
    out.of = {
      runId: ofId,
      words:
        stoppedAt !== undefined ? `A resend of the run stopped at ${clock(stoppedAt)}.` : "A resend of an earlier run.",
    }
  }
  const live = latestResendsOf(runs).get(runId)
  const asId = live?.runId ?? chain?.resentAs?.runId
  if (asId) {
    const next = live ?? byId.get(asId)
    const classification = next?.summary?.classification ?? (next ? undefined : chain?.resentAs?.classification)
    const at = next ? `Resent at ${clock(next.startedAt)}` : "Resent"
    const running = next?.status === "running"
    const words = running
      ? `${at} → that run is still running.`
      : classification === "completed"
        ? `${at} → that run finished.`
        : classification
          ? `${at} → that run did not finish either: ${classificationWords(classification)}.`
          : `${at} → how that run ended was not recorded.`
    out.as = { runId: asId, words, stopped: !running && classification !== undefined && classification !== "completed" }
  }
  return out
}
