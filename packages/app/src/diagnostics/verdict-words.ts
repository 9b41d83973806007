/**
 * What stopped a run, in plain words: the banner's one line, the panel's headline, and the
 * retry statement. Pure, so each wording is tested for every verdict. A verdict is never
 * upgraded in words: a chain that is not `diagnosed` says so, and names what is missing.
 */
import { type Classification, type IncidentChain, Origin, originWords, rootOperationForClassification, type RunSummary, shutdownWords, type Verdict } from "opencode/provenance"
import { missingWords } from "./glossary.ts"
import { actionLabel } from "./lifecycle-link.ts"

const OPERATION_WORDS: Record<string, string> = {
  reload: "a project reload",
  load_reload: "a project reload after its context changed",
  dispose: "a project dispose",
  dispose_directory: "a dispose of this project's instance",
  dispose_all: "a dispose of every project",
}

export const VERDICT_LABELS: Record<Verdict, string> = {
  diagnosed: "Diagnosed",
  partially_diagnosed: "Partially diagnosed",
  missing_provenance: "Missing provenance",
  crash_evidence: "Crash evidence",
  remote_reported: "Remote reported",
}

export interface BannerInput {
  /** The run's summary (from GET /session/:id/run or run.finished). */
  summary?: Pick<RunSummary, "classification" | "interrupt" | "missing" | "error" | "closeSite">
  classification: Classification
  incident?: IncidentChain
  /** Whether an action id was created by this app tab. */
  isOwnAction: (actionId: string | undefined) => boolean
}

/** The origin we can rely on: the incident's (re-derived by the server), else the run's interrupt. */
function originOf(input: BannerInput): Origin | undefined {
  const fromChain = input.incident ? Origin.safeParse(input.incident.origin) : undefined
  if (fromChain?.success) return fromChain.data
  const interrupt = input.summary?.interrupt
  if (interrupt?.lifecycle) return interrupt.lifecycle.origin
  if (interrupt?.kind === "user_cancel" && interrupt.request) return { kind: "api_route", request: interrupt.request, provenance: { complete: true, missing: [] } }
  return undefined
}

function missingOf(input: BannerInput): string[] {
  if (input.incident) return input.incident.missing
  const fromOrigin = originOf(input)?.provenance.missing ?? []
  return [...new Set([...(input.summary?.missing ?? []), ...fromOrigin])]
}

/**
 * One line saying what stopped the run.
 *
 * @example bannerText({ classification: "local_instance_reload", incident, isOwnAction }) // "This run was stopped by a project reload you requested (Reload project)."
 */
export function bannerText(input: BannerInput): string {
  const { classification } = input
  const origin = originOf(input)
  const missing = missingOf(input)
  const verdict = input.incident?.verdict
  const gap = (text: string) => (verdict === "partially_diagnosed" && missing.length > 0 ? `${text.replace(/\.$/, "")}; partially diagnosed, missing ${missing.map(missingWords).join("; ")}.` : text)

  // A crash chain has an `unknown` origin by construction: it is evidence of a process exit, said as such.
  if (verdict === "crash_evidence" || classification === "process_exit_without_finalizer") {
    return "This run was lost when the server process ended without finishing it (crash evidence, not a project reload or dispose)."
  }
  if (verdict === "missing_provenance" || classification === "unknown_interrupt" || origin?.kind === "unknown") {
    return `This run was stopped; cause unknown: missing ${(missing.length > 0 ? missing : ["lifecycle_action"]).map(missingWords).join("; ")}.`
  }
  switch (classification) {
    case "completed":
      return "This run completed."
    case "user_cancelled": {
      const request = origin?.kind === "api_route" ? origin.request : undefined
      if (input.isOwnAction(request?.actionId)) return "This run was stopped by you (Stop)."
      if (request?.clientKind === "app") return gap("This run was stopped from another app window (Stop).")
      if (request) return gap(`This run was cancelled by another client (${request.method} ${request.route}).`)
      return gap("This run was cancelled by a user request that was not recorded.")
    }
    case "watchdog_timeout":
      return "This run was stopped by the watchdog: the provider made no progress in time."
    case "provider_error":
      return `This run ended with a provider error${errorWords(input.summary?.error ?? input.incident?.error)}.`
    case "tool_error":
      return `This run ended with a tool error${errorWords(input.summary?.error ?? input.incident?.error)}.`
    case "remote_interrupted": {
      const workspace = origin?.kind === "forwarded_remote" && origin.workspaceId ? ` ${origin.workspaceId}` : ""
      return `This run was interrupted by the remote workspace${workspace}; what stopped it there is known only to the remote.`
    }
    default:
      break
  }
  const operation = input.incident?.rootOperation ?? input.summary?.interrupt?.lifecycle?.rootOperation ?? rootOperationForClassification(classification)
  const what = (operation && OPERATION_WORDS[operation]) ?? "a lifecycle operation"
  if (!origin) return gap(`This run was stopped by ${what}; who requested it was not recorded.`)
  return gap(`This run was stopped by ${what}${initiatorWords(origin, input.isOwnAction)}.`)
}

function initiatorWords(origin: Origin, isOwn: (id: string | undefined) => boolean): string {
  switch (origin.kind) {
    case "api_route": {
      const request = origin.request
      if (!request) return ", requested through the API (the request was not recorded)"
      const label = request.actionName ? actionLabel(request.actionName) : `${request.method} ${request.route}`
      if (isOwn(request.actionId)) return ` you requested (${label})`
      if (request.clientKind === "app") return request.actionId ? ` requested from another app window (${label})` : ` requested from the app without a recorded action (${request.method} ${request.route})`
      return ` requested by another client (${request.method} ${request.route})`
    }
    case "config_invalidation": {
      const file = origin.scope === "global" ? "the global config" : "the project's config"
      if (origin.request && isOwn(origin.request.actionId)) return ` after you saved ${file} (Save config)`
      if (origin.request) return ` after ${file} was saved through the server (${origin.request.method} ${origin.request.route})`
      return ` after ${file} changed outside the app`
    }
    case "context_mismatch":
      return ` because the project's context changed (${origin.reason ?? "reason not recorded"})`
    case "shutdown":
      return ` because the server shut down (${shutdownWords(origin.signal) ?? "signal not recorded"})`
    case "server_handler":
      return origin.handler === "directory_watch" ? " because the project directory was removed or renamed" : ` started by the server itself (${origin.handler ?? "handler not recorded"})`
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

export interface Headline {
  verdict: Verdict
  label: string
  sentence: string
}

/**
 * The panel's headline: the verdict in words, never stronger than the chain supports.
 *
 * @example headline(chain).label // "Partially diagnosed"
 */
export function headline(chain: IncidentChain): Headline {
  const label = VERDICT_LABELS[chain.verdict]
  const operation = operationWords(chain)
  const missing = chain.missing.length > 0 ? ` Missing: ${chain.missing.join(", ")}.` : ""
  let sentence: string
  switch (chain.verdict) {
    case "diagnosed":
      sentence = `${operation}, initiated by ${originWords(chain)}. Every hop its origin requires is present.`
      break
    case "partially_diagnosed":
      sentence = `${operation}, initiated by ${originWords(chain)}. The kind of initiator is known, but some of what it requires is missing or was not recorded.${missing}`
      break
    case "missing_provenance":
      sentence = `Nothing recorded who or what stopped this run.${missing || " Missing: lifecycle_action."}`
      break
    case "crash_evidence": {
      const possible = chain.possibleCause ? ` A ${chain.possibleCause.operation} (${chain.possibleCause.lifecycleId}) on the same instance was unfinished: a possible cause, not a confirmed one.` : ""
      sentence = `The server process ended without finalizing this run. This is crash evidence, not evidence of a lifecycle close.${possible}${missing}`
      break
    }
    case "remote_reported":
      sentence = `The stop came from ${originWords(chain)}.${missing}`
      break
  }
  return { verdict: chain.verdict, label, sentence }
}

function operationWords(chain: IncidentChain): string {
  if (chain.lifecyclePath && chain.lifecyclePath.length > 0) {
    return `Stopped by ${chain.lifecyclePath.map((step) => `${step.operation} ${step.lifecycleId}`).join(" → ")}`
  }
  if (chain.operation) return `Stopped by ${chain.operation}${chain.lifecycleId ? ` ${chain.lifecycleId}` : ""}`
  switch (chain.classification) {
    case "user_cancelled":
      return "Cancelled by a user request"
    case "watchdog_timeout":
      return "Stopped by the watchdog"
    case "provider_error":
      return "Ended by a provider error"
    case "tool_error":
      return "Ended by a tool error"
    default:
      return `Stopped (${chain.classification})`
  }
}

/**
 * Whether a retry is safe, and why. Judged from visible output and tool side effects only.
 *
 * @example retryStatement({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
 */
export function retryStatement(retry: IncidentChain["retry"]): string {
  const basis = ` (basis: ${retry.basis.length > 0 ? retry.basis.join(", ") : "none recorded"})`
  const kinds = retry.basis.filter((item) => item.startsWith("kind:")).map((item) => item.slice(5))
  let words: string
  if (retry.safe === true) {
    words = "Retrying is safe: no tool with side effects had started."
    if (retry.basis.includes("visible_output_seen")) words += " Partial output was already shown; a retry repeats it."
  } else if (retry.safe === false) {
    words = `Retrying is not safe: a tool with side effects had started${kinds.length > 0 ? ` (${kinds.join(", ")})` : ""}.`
  } else if (retry.basis.includes("tool_kind_not_recorded")) {
    words = "Whether retrying is safe is unknown: a tool had started but its side-effect kind was not recorded."
  } else {
    words = "Whether retrying is safe is unknown: the tool side-effect facts were not recorded."
  }
  return `${words}${basis} This is judged from visible output and tool side effects only, not from what stopped the run.`
}
