/**
 * A session's run history: every run, newest first, with when it started, how long it ran and
 * how it ended in words, and the resend links between runs ("a resend of the run stopped at
 * 14:34:11", "resent at 14:35:02 → that run finished"). Pure: the run list and the incident
 * chains in, rows and words out, so each wording is unit-tested.
 *
 * A stopped run is worded from its incident chain whenever there is one, as the banner
 * (`bannerText`) is: the run row's classification can name less than the chain knows (a row the
 * crash scan wrote for a run whose close was journalled, a placeholder written at the settle
 * timeout). The row's own words are the fallback before the chain arrives, and say no more than it.
 */
import {
  type Classification,
  type IncidentChain,
  latestResends,
  type LifecycleOperation,
  type Origin,
  type RunSummary,
  summaryOnlyChain,
} from "opencode/provenance"
import type { RunRecord } from "../context/shapes.ts"
import { actionWords, CHAIN_STOP_WORDS, classificationWords, OPERATION_NOUN, STOP_MARKER_WORDS } from "./glossary.ts"
import { clock, duration } from "./story.ts"
import { type Reading, readChain } from "./verdict-words.ts"

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
      const chain = chainOf(run, chains.get(run.runId))
      const classification = chain?.classification ?? run.summary?.classification
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
        ending: endingWords(run, chain, isOwnAction),
        ...(resendOf ? { resendOf } : {}),
        ...(resend ? { resentAs: resend.runId } : {}),
      }
    })
}

/** Each run's latest resend, by the run it resent: a run's link is on its record, or on its summary once it has one. */
function latestResendsOf(runs: readonly RunRecord[]): Map<string, RunRecord> {
  return latestResends(runs.map((run) => ({ ...run, resendOf: run.resendOf ?? run.summary?.resendOf })))
}

/** The chain that explains this run once it has ended: another run's chain never words it. */
function chainOf(run: RunRecord, chain: IncidentChain | undefined): IncidentChain | undefined {
  return run.status !== "running" && chain?.runId === run.runId ? chain : undefined
}

/**
 * How a run ended, as the end of "This run …": its chain's story when there is one (who stopped
 * it when the chain says so), else its row's classification in words that claim no more.
 *
 * @example endingWords(run, chain, isOwn) // "stopped by a project reload: you clicked Reload project"
 */
export function endingWords(run: RunRecord, chain: IncidentChain | undefined, isOwnAction: IsOwn): string {
  if (run.status === "running") return "still running"
  const known = chainOf(run, chain) ?? ownChain(run.summary)
  if (known) return chainEndingWords(known, isOwnAction)
  if (!run.summary) return "ended, how was not recorded"
  return run.summary.classification === "completed" ? "finished" : classificationWords(run.summary.classification)
}

/**
 * Before the session's chains arrive, a stopped run's words come from the chain its summary
 * derives alone, as the banner's do: never more, or less, than the chain will say. A run the
 * crash scan finished waits for its chain (the journal can tie it to a close) and a completed one
 * has none.
 */
function ownChain(summary: RunSummary | undefined): IncidentChain | undefined {
  if (!summary || summary.classification === "completed" || summary.classification === "process_exit_without_finalizer")
    return undefined
  return summaryOnlyChain(summary)
}

/** What kind of stop a chain tells, in the banner's terms. */
type StoryKind = "completed" | "crash" | "unknown" | Reading["stop"]

interface ChainStory {
  kind: StoryKind
  classification: Classification
  origin?: Origin
  operation?: LifecycleOperation
  /** The banner says "partially diagnosed": the short words say so too. */
  partial: boolean
}

/** A chain read the way `bannerText` reads it (`readChain`): its verdict, classification and origin, never the row's. */
function chainStory(chain: IncidentChain): ChainStory {
  const reading = readChain(chain)
  const story = {
    classification: reading.classification,
    origin: reading.origin,
    operation: reading.rootOperation,
    partial:
      reading.verdict !== "remote_reported" &&
      (reading.verdict === "partially_diagnosed" || reading.missing.length > 0 || reading.notRecorded.length > 0),
  }
  if (reading.verdict === "crash_evidence") return { ...story, kind: "crash" }
  if (reading.classification === "completed") return { ...story, kind: "completed" }
  if (reading.verdict === "missing_provenance" || reading.origin?.kind === "unknown")
    return { ...story, kind: "unknown" }
  return { ...story, kind: reading.stop }
}

function operationNoun(operation: LifecycleOperation | undefined): string {
  return operation ? OPERATION_NOUN[operation] : "lifecycle operation"
}

/** The request that asked for the stop, when the chain's origin records one. */
function requestOf(origin: Origin | undefined) {
  return origin?.kind === "api_route" || origin?.kind === "config_invalidation" ? origin.request : undefined
}

/**
 * A stopped run's chain as the end of "This run …" (the run history, the run picker): the same
 * cause, operation and completeness as the banner's sentence, in fewer words.
 *
 * @example chainEndingWords(chain, isOwn) // "stopped by a close of every project because the server shut down; partially diagnosed"
 */
export function chainEndingWords(chain: IncidentChain, isOwnAction: IsOwn): string {
  const story = chainStory(chain)
  const request = requestOf(story.origin)
  const own = request?.actionId !== undefined && isOwnAction(request.actionId)
  const words = (() => {
    switch (story.kind) {
      case "completed":
        return "finished"
      case "crash":
        return CHAIN_STOP_WORDS.crash.ending
      case "unknown":
        return CHAIN_STOP_WORDS.unknown.ending
      case "cancel":
        return own ? "stopped by you (Stop)" : classificationWords("user_cancelled")
      case "watchdog":
        return classificationWords("watchdog_timeout")
      case "error":
        return classificationWords(story.classification)
      case "remote":
        return story.origin?.kind === "shutdown"
          ? CHAIN_STOP_WORDS.remoteShutdown.ending
          : classificationWords("remote_interrupted")
      case "lifecycle": {
        const stem = `stopped by a ${operationNoun(story.operation)}`
        if (story.origin?.kind === "shutdown") return `${stem} ${CHAIN_STOP_WORDS.shutdown.ending}`
        if (own && story.origin?.kind === "api_route") return `${stem}: you clicked ${actionWords(request?.actionName)}`
        return stem
      }
    }
  })()
  return story.partial && story.kind !== "crash" && story.kind !== "unknown"
    ? `${words}; ${CHAIN_STOP_WORDS.partial}`
    : words
}

/**
 * The transcript's marker, "Stopped here: …": the chain's cause when there is one, else the row's.
 *
 * @example stopMarkerWords("process_exit_without_finalizer", chain) // "close of every project (server shut down)"
 */
export function stopMarkerWords(
  classification: Classification,
  chain: IncidentChain | undefined,
  summary?: RunSummary,
): string {
  const known = chain ?? ownChain(summary)
  if (!known) return STOP_MARKER_WORDS[classification]
  const story = chainStory(known)
  switch (story.kind) {
    case "completed":
      return STOP_MARKER_WORDS.completed
    case "crash":
      return CHAIN_STOP_WORDS.crash.marker
    case "unknown":
      return CHAIN_STOP_WORDS.unknown.marker
    case "cancel":
      return STOP_MARKER_WORDS.user_cancelled
    case "watchdog":
      return STOP_MARKER_WORDS.watchdog_timeout
    case "error":
      return STOP_MARKER_WORDS[story.classification]
    case "remote":
      return story.origin?.kind === "shutdown"
        ? CHAIN_STOP_WORDS.remoteShutdown.marker
        : STOP_MARKER_WORDS.remote_interrupted
    case "lifecycle": {
      const noun = operationNoun(story.operation)
      return story.origin?.kind === "shutdown" ? `${noun} (${CHAIN_STOP_WORDS.shutdown.marker})` : noun
    }
  }
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
