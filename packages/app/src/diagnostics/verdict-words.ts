/**
 * What stopped a run, in plain words: the banner's one line. Pure, so each wording is tested for
 * every verdict. A verdict is never upgraded in words: a chain that is not `diagnosed` says so,
 * and names what is missing. Operations, files and handlers are named by the glossary's words.
 *
 * The incident chain is the evidence: when there is one, the banner reads the chain's
 * classification, origin, verdict and missing fields, never the run row's classification (a row
 * the crash scan wrote, or a placeholder written at the settle timeout, can name less than the
 * chain knows). Before the chain arrives, the banner reads the chain the run summary derives
 * alone (`summaryOnlyChain`), so it never claims more, or less, than that chain will.
 */
import {
  type Classification,
  type IncidentChain,
  type LifecycleOperation,
  Origin,
  rootOperationForClassification,
  type RunSummary,
  shutdownWords,
  type ShutdownSignal,
  type Verdict,
  summaryOnlyChain,
} from "opencode/provenance"
import { HANDLER_WORDS, MISMATCH_WORDS, missingWords, OPERATION_NOUN } from "./glossary.ts"
import { actionLabel } from "./lifecycle-link.ts"
import { configChangeClause } from "./story.ts"

interface BannerInput {
  /** The run's summary (from GET /session/:id/run or run.finished). */
  summary?: RunSummary
  classification: Classification
  incident?: IncidentChain
  /** Whether an action id was created by this app tab. */
  isOwnAction: (actionId: string | undefined) => boolean
}

/** What kind of stop the words describe. */
type StopKind = "completed" | "lifecycle" | "cancel" | "watchdog" | "error" | "remote"

/** One reading of the evidence: the chain's when there is one, else the run summary's. */
export interface Reading {
  classification: Classification
  /** The chain's verdict; `summary_only` before the chain arrives. */
  verdict: Verdict | "summary_only"
  /** A run the crash scan found, read before its chain arrives: whether a close was under way is not known yet. */
  crashPending: boolean
  origin?: Origin
  /** The chain's origin is `not_recorded_by_writer`: an old writer could not record one. */
  notRecordedByWriter: boolean
  missing: string[]
  notRecorded: string[]
  stop: StopKind
  rootOperation?: LifecycleOperation
  error?: RunSummary["error"]
}

/** What kind of stop a classification is; an `unknown_interrupt` placeholder by what its origin says stopped it. */
function stopKindOf(classification: Classification, origin: Origin | undefined, lifecycleKnown: boolean): StopKind {
  switch (classification) {
    case "completed":
      return "completed"
    case "user_cancelled":
      return "cancel"
    case "watchdog_timeout":
      return "watchdog"
    case "provider_error":
    case "tool_error":
      return "error"
    case "remote_interrupted":
      return "remote"
    case "unknown_interrupt":
      // A placeholder summary (the settle timeout) keeps the interrupt: the origin says what stopped it.
      if (lifecycleKnown) return "lifecycle"
      if (origin?.kind === "api_route") return "cancel"
      if (origin?.kind === "server_handler" && origin.handler === "watchdog") return "watchdog"
      if (origin?.kind === "forwarded_remote") return "remote"
      return "lifecycle"
    default:
      return "lifecycle"
  }
}

/** A chain read as every view words it: its classification, origin, verdict and gaps, never the run row's. */
export function readChain(chain: IncidentChain, summary?: RunSummary): Reading {
  const parsed = Origin.safeParse(chain.origin)
  const origin = parsed.success ? parsed.data : undefined
  const lifecycleKnown =
    chain.lifecycleId !== undefined || chain.rootOperation !== undefined || chain.operation !== undefined
  return {
    classification: chain.classification,
    verdict: chain.verdict,
    crashPending: false,
    origin,
    notRecordedByWriter: chain.origin.kind === "not_recorded_by_writer",
    missing: chain.missing,
    notRecorded: chain.notRecorded ?? [],
    stop: stopKindOf(chain.classification, origin, lifecycleKnown),
    rootOperation: chain.rootOperation ?? chain.operation ?? rootOperationForClassification(chain.classification),
    error: chain.error ?? summary?.error,
  }
}

function readSummary(input: BannerInput): Reading {
  const { classification, summary } = input
  const base = { classification, notRecordedByWriter: false, notRecorded: [], error: summary?.error }
  if (classification === "completed")
    return { ...base, verdict: "summary_only", crashPending: false, missing: [], stop: "completed" }
  if (classification === "process_exit_without_finalizer")
    return {
      ...base,
      verdict: "summary_only",
      crashPending: true,
      missing: summary?.missing ?? [],
      stop: "lifecycle",
    }
  // A stop with no summary to read: nothing recorded what stopped it.
  if (!summary)
    return { ...base, verdict: "missing_provenance", crashPending: false, missing: ["run_summary"], stop: "lifecycle" }
  // The chain this summary derives alone: its origin, verdict and gaps, word for word.
  const chain = summaryOnlyChain(summary)
  return {
    ...readChain(chain, summary),
    classification,
    verdict: chain.verdict === "diagnosed" ? "summary_only" : chain.verdict,
  }
}

/**
 * One line saying what stopped the run.
 *
 * @example bannerText({ classification: "local_instance_reload", incident, isOwnAction }) // "This run was stopped by a project reload you requested (Reload project)."
 */
export function bannerText(input: BannerInput): string {
  const reading = input.incident ? readChain(input.incident, input.summary) : readSummary(input)
  const { origin, missing, verdict } = reading
  const isOwn = (id: string | undefined) => id !== undefined && input.isOwnAction(id)
  /** What the evidence does not record, said after the sentence: never left out when it is not complete. */
  const gap = (text: string) => {
    const stem = text.replace(/\.$/, "")
    const partial = verdict === "remote_reported" ? "" : "partially diagnosed, "
    if (missing.length > 0) return `${stem}; ${partial}missing ${missing.map(missingWords).join("; ")}.`
    if (reading.notRecorded.length > 0)
      return `${stem}; partially diagnosed: the file's writer could not record ${reading.notRecorded.map(missingWords).join("; ")}.`
    if (verdict === "partially_diagnosed") return `${stem}; partially diagnosed.`
    return text
  }

  // A crash chain has an `unknown` origin by construction: it is evidence of a process exit, said as such.
  if (verdict === "crash_evidence") {
    return `This run was lost when the server process ended without finishing it (crash evidence, not a ${OPERATION_NOUN.reload} or close).`
  }
  // The crash scan's row alone cannot tell whether a close had begun: its chain can (a journalled abort).
  if (reading.crashPending) {
    return "This run was lost when the server process ended without finishing it; whether a project reload or close had begun is not known yet."
  }
  if (reading.stop === "completed") return "This run completed."
  if (verdict === "missing_provenance" || origin?.kind === "unknown") {
    return `This run was stopped; cause unknown: missing ${(missing.length > 0 ? missing : ["lifecycle_action"]).map(missingWords).join("; ")}.`
  }
  switch (reading.stop) {
    case "cancel": {
      const request = origin?.kind === "api_route" ? origin.request : undefined
      if (isOwn(request?.actionId)) return gap("This run was stopped by you (Stop).")
      if (request?.clientKind === "app") {
        const label = request.actionName ? actionLabel(request.actionName) : `${request.method} ${request.route}`
        return request.actionId
          ? gap(`This run was stopped from another app window (${label}).`)
          : gap(`This run was stopped from the app without a recorded action (${request.method} ${request.route}).`)
      }
      if (request) return gap(`This run was cancelled by another client (${request.method} ${request.route}).`)
      if (!origin) return gap(`This run was stopped by a cancel; ${whoNotRecorded(reading)}.`)
      return gap("This run was stopped through the server's API; the request was not recorded.")
    }
    case "watchdog":
      return gap("This run was stopped by the watchdog: the provider made no progress in time.")
    case "error":
      return gap(
        `This run ended with a ${reading.classification === "tool_error" ? "tool" : "provider"} error${errorWords(reading.error)}.`,
      )
    case "remote": {
      // This server stopped following the run for its own reason (its shutdown): that is the local cause.
      if (origin?.kind === "shutdown")
        return gap(
          `This server stopped following this run in the remote workspace because it shut down (${shutdownReason(origin.signal)}); how the run ended there is not known here.`,
        )
      const workspace = origin?.kind === "forwarded_remote" && origin.workspaceId ? ` ${origin.workspaceId}` : ""
      return gap(
        `This run was interrupted by the remote workspace${workspace}; what stopped it there is known only to the remote.`,
      )
    }
    default:
      break
  }
  const operation = reading.rootOperation
  const what = operation && operation in OPERATION_NOUN ? `a ${OPERATION_NOUN[operation]}` : "a lifecycle operation"
  if (!origin) return gap(`This run was stopped by ${what}; ${whoNotRecorded(reading)}.`)
  return gap(`This run was stopped by ${what}${initiatorWords(origin, isOwn)}.`)
}

function whoNotRecorded(reading: Reading): string {
  return reading.notRecordedByWriter
    ? "the file's writer could not record who requested it"
    : "who requested it was not recorded"
}

function shutdownReason(signal: ShutdownSignal | undefined): string {
  return shutdownWords(signal) ?? "signal not recorded"
}

function initiatorWords(origin: Origin, isOwn: (id: string | undefined) => boolean): string {
  switch (origin.kind) {
    case "api_route": {
      const request = origin.request
      if (!request) return ", requested through the API (the request was not recorded)"
      const label = request.actionName ? actionLabel(request.actionName) : `${request.method} ${request.route}`
      if (isOwn(request.actionId)) return ` you requested (${label})`
      if (request.clientKind === "app")
        return request.actionId
          ? ` requested from another app window (${label})`
          : ` requested from the app without a recorded action (${request.method} ${request.route})`
      return ` requested by another client (${request.method} ${request.route})`
    }
    case "config_invalidation":
      // The panel's one wording: a save whose request was lost (`writtenByRoute`) is a gap, never an edit outside the app.
      return ` after ${configChangeClause(origin, isOwn)}`
    case "context_mismatch":
      return ` because the project's context changed (${origin.reason ? MISMATCH_WORDS[origin.reason] : "what changed was not recorded"})`
    case "shutdown":
      return ` because the server shut down (${shutdownReason(origin.signal)})`
    case "server_handler":
      return origin.handler === "directory_watch"
        ? " because the project directory was removed or renamed"
        : ` started by ${(origin.handler && HANDLER_WORDS[origin.handler]) ?? "the server itself"}`
    case "forwarded_remote":
      return ` in the remote workspace ${origin.workspaceId ?? "(not recorded)"}`
    case "unknown":
      return ", cause unknown"
  }
}

function errorWords(error: RunSummary["error"] | undefined): string {
  if (!error) return ""
  return ` (${error.class} ${error.code}${error.status ? `, status ${error.status}` : ""})`
}
