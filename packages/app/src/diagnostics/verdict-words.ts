/**
 * What stopped a run, in plain words: the banner's one line. Pure, so each wording is tested for
 * every verdict. A verdict is never upgraded in words: a chain that is not `diagnosed` says so,
 * and names what is missing. Operations, files and handlers are named by the glossary's words.
 */
import {
  type Classification,
  type IncidentChain,
  type LifecycleOperation,
  Origin,
  rootOperationForClassification,
  type RunSummary,
  shutdownWords,
} from "opencode/provenance"
import {
  configChangeWords,
  configFileWords,
  HANDLER_WORDS,
  MISMATCH_WORDS,
  missingWords,
  OPERATION_NOUN,
} from "./glossary.ts"
import { actionLabel } from "./lifecycle-link.ts"

interface BannerInput {
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
  if (interrupt?.kind === "user_cancel" && interrupt.request)
    return { kind: "api_route", request: interrupt.request, provenance: { complete: true, missing: [] } }
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
  const gap = (text: string) =>
    verdict === "partially_diagnosed" && missing.length > 0
      ? `${text.replace(/\.$/, "")}; partially diagnosed, missing ${missing.map(missingWords).join("; ")}.`
      : text

  // A crash chain has an `unknown` origin by construction: it is evidence of a process exit, said as such.
  if (verdict === "crash_evidence" || classification === "process_exit_without_finalizer") {
    return `This run was lost when the server process ended without finishing it (crash evidence, not a ${OPERATION_NOUN.reload} or close).`
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
  const operation =
    input.incident?.rootOperation ??
    input.summary?.interrupt?.lifecycle?.rootOperation ??
    rootOperationForClassification(classification)
  const what =
    operation && operation in OPERATION_NOUN
      ? `a ${OPERATION_NOUN[operation as LifecycleOperation]}`
      : "a lifecycle operation"
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
      if (request.clientKind === "app")
        return request.actionId
          ? ` requested from another app window (${label})`
          : ` requested from the app without a recorded action (${request.method} ${request.route})`
      return ` requested by another client (${request.method} ${request.route})`
    }
    case "config_invalidation": {
      const file = configFileWords(origin.scope)
      if (origin.request && isOwn(origin.request.actionId)) return ` after you saved ${file} (Save config)`
      if (origin.request)
        return ` after ${file} was saved through the server (${origin.request.method} ${origin.request.route})`
      return ` after ${file} ${configChangeWords(origin.change, false)} outside the app`
    }
    case "context_mismatch":
      return ` because the project's context changed (${origin.reason ? MISMATCH_WORDS[origin.reason] : "what changed was not recorded"})`
    case "shutdown":
      return ` because the server shut down (${shutdownWords(origin.signal) ?? "signal not recorded"})`
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
