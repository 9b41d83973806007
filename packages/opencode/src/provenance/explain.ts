/**
 * An export in plain words, one block per incident, for a person to paste into a bug report:
 * what stopped, how it was classified, which operation, who initiated it, what is missing, and
 * whether a retry is safe and why. Every value from the file is printed through `plain`.
 */
import type { ReadResult, ReadSuccess } from "./export-reader.ts"
import { SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
import { plain, visibleControls } from "./plain-text.ts"
import type { Classification, IncidentChain, Origin, RequestRef, RunPhase, ShutdownSignal, Verdict } from "./schemas.ts"
import { Origin as OriginSchema } from "./schemas.ts"
import { unique } from "./unique.ts"

const CLASSIFICATION_WORDS: Record<Classification, string> = {
  completed: "completed normally",
  user_cancelled: "cancelled by the user",
  local_instance_reload: "closed by a reload of its instance",
  local_instance_dispose: "closed by a dispose of its instance",
  local_instance_dispose_directory: "closed by a dispose of its directory's instance",
  local_instance_dispose_all: "closed by a dispose of every instance",
  provider_error: "ended by a provider error",
  tool_error: "ended by a tool error",
  watchdog_timeout: "stopped by the watchdog (no progress in time)",
  remote_interrupted: "interrupted by the remote workspace",
  process_exit_without_finalizer: "lost when the server process ended without finalizing it",
  unknown_interrupt: "aborted with no recorded cause",
}

const VERDICT_WORDS: Record<Verdict, string> = {
  diagnosed: "diagnosed: every hop its origin requires is present",
  partially_diagnosed:
    "partially diagnosed: the kind of initiator is known, but some of what it requires is missing or was not recorded",
  missing_provenance: "missing provenance: nothing recorded who or what initiated this stop",
  crash_evidence:
    "crash evidence: the process ended without finalizing the run; this is not evidence of a lifecycle close",
  remote_reported: "remote: the stop came from a remote workspace, whose initiator is known only to the remote",
}

const PHASE_WORDS: Record<RunPhase, string> = {
  starting: "starting",
  provider_waiting: "waiting for the provider",
  provider_streaming: "streaming provider output",
  tool_running: "running a tool",
  finishing: "finishing",
}

const FACT_WORDS: Record<string, string> = {
  run_summary: "run summaries",
  classification: "why runs stopped",
  lifecycle_action: "lifecycle operations",
  origin: "who initiated a close",
  request: "requests",
  "origin.request": "requests",
  renderer_action: "renderer actions",
  interrupt_meta: "interrupt records",
  tool_facts: "tool side-effect facts",
  tool_kinds: "the side-effect kind of each tool",
  retry: "retry verdicts",
  crash_evidence: "crash evidence",
}

const FORMAT_WORDS: Record<ReadSuccess["format"], string> = {
  v2: "opencode session export, version 2",
  "v1-diagnostics": "opencode session export, version 1 with run diagnostics",
  "v1-messages": "opencode session export, version 1 (messages only)",
  "upstream-opencode": "upstream opencode session export (messages only)",
}

/**
 * @example console.log(explainText(readExport(json)))
 */
export function explainText(result: ReadResult): string {
  if (!result.ok) return visibleControls(`This file could not be read. ${result.error}`)
  return [
    ...explainHead(result, result.incidents.length),
    ...result.incidents.map((chain, index) => incidentBlock(chain, index + 1)),
    ...explainTail(result),
  ].join("\n")
}

/**
 * The lines of `explainText` before the incidents' blocks, for `count` incidents (a large file's
 * are then written a block at a time, never all held). Every line once more through
 * `visibleControls`, whatever it interpolated: nothing from the file reaches a terminal raw.
 */
export function explainHead(result: ReadSuccess, count: number): string[] {
  const lines: string[] = [header(result)]
  if (result.session?.id) lines.push(`Session ${plain(result.session.id, 64)}.`)
  for (const warning of result.warnings) lines.push(`Warning: ${plain(warning, 2000)}`)
  lines.push("")
  if (count === 0) lines.push(nothingStoppedWords(result))
  else lines.push(`${count} stopped run(s):`)
  return lines.map(visibleControls)
}

/**
 * Whether a read holds every run record of its file: only then may a reader with no incident say
 * that nothing stopped.
 */
export function readsEveryRun(result: ReadSuccess): boolean {
  return (
    result.format !== "v1-messages" &&
    result.format !== "upstream-opencode" &&
    !result.diagnosticsMissing &&
    !result.runsUnreadable &&
    !result.runsSkipped
  )
}

/** What a file with no incident says: "nothing stopped" only when every run record was read. */
function nothingStoppedWords(result: ReadSuccess): string {
  if (readsEveryRun(result)) return "No interrupted runs or crashes are recorded in this file."
  if (result.format === "v1-messages" || result.format === "upstream-opencode" || result.diagnosticsMissing)
    return "The file records no run diagnostics, so it cannot say why any run stopped."
  // The warnings say what is wrong with the file's runs.
  if (result.runsUnreadable)
    return "This reader could not read the file's run records, so it cannot say why any run stopped."
  return `No interrupted runs or crashes are recorded among the runs this reader could read; it cannot say why the ${result.runsSkipped} it could not read stopped.`
}

/** The lines of `explainText` after the incidents' blocks. */
export function explainTail(result: ReadSuccess): string[] {
  const lines: string[] = []
  if (result.stoppedMessages.length > 0) {
    lines.push("")
    for (const message of result.stoppedMessages.slice(0, 10)) {
      lines.push(
        `Message ${message.messageId ? plain(message.messageId, 64) : "(no id)"} ended with ${plain(message.error, 64)}.`,
      )
    }
  }
  if (result.notRecorded.length > 0) {
    const facts = unique(result.notRecorded.map((name) => FACT_WORDS[name] ?? plain(name, 64)))
    lines.push(
      "",
      `This file's writer could not record: ${facts.join(", ")}. Those facts are labelled not recorded, not missing.`,
    )
  }
  return lines.map(visibleControls)
}

/** Incident `n`'s block of `explainText`: a blank line, then its lines. */
export function incidentBlock(chain: IncidentChain, n: number): string {
  return ["", ...incidentLines(chain, n)].map(visibleControls).join("\n")
}

function header(result: ReadSuccess): string {
  const newer = result.version !== undefined && result.version > SUPPORTED_EXPORT_VERSION
  const format = newer
    ? `opencode session export, version ${result.version} (newer than this reader's version ${SUPPORTED_EXPORT_VERSION}; read best effort)`
    : FORMAT_WORDS[result.format]
  const writer = result.writer
    ? `, written by ${plain(result.writer.name, 64)} ${plain(result.writer.version, 64)}`
    : ""
  return `${format.charAt(0).toUpperCase()}${format.slice(1)}${writer}.`
}

function incidentLines(chain: IncidentChain, n: number): string[] {
  const lines = [
    `${n}. Run ${chain.runId} in session ${chain.sessionId} was ${CLASSIFICATION_WORDS[chain.classification]} [${chain.classification}].`,
  ]
  const indent = (text: string) => lines.push(`   ${text}`)
  indent(`Verdict: ${VERDICT_WORDS[chain.verdict]}.`)
  const operation = operationWords(chain)
  if (operation) indent(operation)
  const where = runStateWords(chain)
  if (where) indent(where)
  indent(
    chain.classification === "process_exit_without_finalizer"
      ? "Initiated by: nothing; the server process ended without finalizing the run."
      : `Initiated by: ${originWords(chain)}${answeredWords(chain.requestRecord)}.`,
  )
  indent(
    `Hops: ${chain.links.map((link) => `${link.hop.replace("_", " ")} ${link.status.replaceAll("_", " ")}${link.source === "client_reported" && link.status === "present" ? " (client-reported)" : ""}`).join(", ")}.`,
  )
  indent(
    chain.missing.length > 0
      ? `Missing: ${chain.missing.map((name) => plain(name, 64)).join(", ")}.`
      : "Missing: nothing.",
  )
  if (chain.notRecorded && chain.notRecorded.length > 0)
    indent(`Not recorded by the file's writer: ${chain.notRecorded.map((name) => plain(name, 64)).join(", ")}.`)
  if (chain.alsoRequestedBy.length > 0) {
    const others = chain.alsoRequestedBy.slice(0, 10).map((other) => {
      const what = other.operation ?? other.kind
      return `${what}${other.lifecycleId ? ` ${other.lifecycleId}` : ""} (#${other.seq}${other.late ? ", after the run had finished" : ""})`
    })
    indent(`Also requested by: ${others.join("; ")}.`)
  }
  if (chain.possibleCause)
    indent(`Possible cause, not confirmed: ${chain.possibleCause.operation} ${chain.possibleCause.lifecycleId}.`)
  if (chain.error) {
    const status = chain.error.status ? `, status ${chain.error.status}` : ""
    // Codes and status only: the reader keeps no writer's excerpt (foreign-text.ts).
    indent(`Error: ${plain(chain.error.class, 64)} ${plain(chain.error.code, 64)}${status}.`)
  }
  indent(`Retry: ${retryWords(chain.retry)}.`)
  if (chain.resendOf) indent(`Resend of: run ${chain.resendOf}.`)
  if (chain.resentAs) {
    const ended = chain.resentAs.classification
    indent(
      `Resent as: run ${chain.resentAs.runId}, which ${ended ? `${ended === "completed" ? "" : "was "}${CLASSIFICATION_WORDS[ended]}` : "had not finished when this file was written"}.`,
    )
  }
  return lines
}

function operationWords(chain: IncidentChain): string | undefined {
  if (chain.lifecyclePath && chain.lifecyclePath.length > 1) {
    return `Operation: ${chain.lifecyclePath.map((step) => `${step.operation} ${step.lifecycleId}`).join(" → ")}.`
  }
  if (chain.operation) {
    const root = chain.rootOperation && chain.rootOperation !== chain.operation ? ` (root: ${chain.rootOperation})` : ""
    return `Operation: ${chain.operation}${chain.lifecycleId ? ` ${chain.lifecycleId}` : ""}${root}.`
  }
  if (chain.rootOperation)
    return `Operation: a ${chain.rootOperation} (root operation; the direct one was not recorded).`
  return undefined
}

function runStateWords(chain: IncidentChain): string | undefined {
  const parts: string[] = []
  if (chain.instanceId) parts.push(`instance ${chain.instanceId} generation ${chain.generation ?? "?"}`)
  if (chain.phase) parts.push(`the run was ${PHASE_WORDS[chain.phase]}`)
  return parts.length > 0 ? `Where: ${parts.join("; ")}.` : undefined
}

function requestWords(request: RequestRef, withAction: boolean): string {
  const from = request.clientKind === "app" ? "from the app" : "from a plain client"
  const action = request.actionId
    ? `, action ${request.actionName ? `${request.actionName} ` : ""}(${request.actionId})`
    : withAction && request.clientKind === "app"
      ? ", with no renderer action id"
      : ""
  return `${plain(request.method, 16)} ${plain(request.route, 128)} ${from}${action}, request ${request.requestId}`
}

/** Why the server shut down, in words (the CLI's and the app's): a signal by its name, every other reason as a phrase. */
const SHUTDOWN_WORDS: Record<ShutdownSignal, string> = {
  SIGTERM: "SIGTERM",
  SIGINT: "Ctrl-C",
  SIGHUP: "SIGHUP",
  uncaught_exception: "it hit an unexpected error",
  api: "asked through its API",
  desktop_window_closed: "the desktop window was closed",
  desktop_window_lost: "the desktop window's browser ended unexpectedly",
}

/** Why the server shut down, in words; undefined when the reason was not recorded. */
export function shutdownWords(signal: ShutdownSignal | undefined): string | undefined {
  return signal ? (SHUTDOWN_WORDS[signal] ?? "a reason this reader does not know") : undefined
}

/** The origin in words, e.g. "POST /instance/reload from the app, action instance.reload (act_1)". */
export function originWords(chain: Pick<IncidentChain, "origin">): string {
  if (chain.origin.kind === "not_recorded_by_writer")
    return "not recorded (the file's writer could not record who initiated a close)"
  const parsed = OriginSchema.safeParse(chain.origin)
  if (!parsed.success) return `an origin this reader does not understand (${plain(chain.origin.kind, 32)})`
  const origin: Origin = parsed.data
  switch (origin.kind) {
    case "api_route":
      return origin.request ? requestWords(origin.request, true) : "an API route whose request was not recorded"
    case "server_handler":
      return origin.handler
        ? `the server's own ${origin.handler} handler`
        : "a server handler whose name was not recorded"
    case "config_invalidation": {
      const scope = origin.scope ? `${origin.scope} ` : ""
      const change = origin.change ? `${origin.change}` : "change of unrecorded kind"
      const file = origin.fileKey ? `, file ${origin.fileKey}` : ""
      const writer = origin.request
        ? `, written by ${requestWords(origin.request, false)}`
        : origin.writtenByRoute
          ? ", written by a route whose request was not recorded"
          : ", an edit made outside the server"
      return `a ${scope}config file ${change}${file}${writer}`
    }
    case "context_mismatch": {
      const reason = origin.reason ?? "unrecorded reason"
      const during = origin.detectedDuring
        ? `, detected while loading the instance for ${requestWords(origin.detectedDuring, false)} (the occasion, not the initiator)`
        : ""
      return `the instance's context changed (${reason})${during}`
    }
    case "shutdown":
      return `server shutdown (${shutdownWords(origin.signal) ?? "signal not recorded"})`
    case "forwarded_remote":
      return `the remote workspace ${origin.workspaceId ?? "(id not recorded)"}; the remote initiator is not known locally`
    case "unknown":
      return `nothing recorded who initiated it${origin.closeSite ? ` (closed at ${plain(origin.closeSite, 64)})` : ""}`
  }
}

function answeredWords(record: IncidentChain["requestRecord"]): string {
  if (!record || record.status === undefined) return ""
  return ` (answered ${record.status}${record.durationMs !== undefined ? ` in ${Math.round(record.durationMs)} ms` : ""})`
}

function retryWords(retry: IncidentChain["retry"]): string {
  const kinds = retry.basis.filter((basis) => basis.startsWith("kind:")).map((basis) => basis.slice(5))
  if (retry.safe === false)
    return `not safe, a tool with side effects had started${kinds.length > 0 ? ` (${kinds.join(", ")})` : ""}`
  if (retry.safe === true) {
    const seen = retry.basis.includes("visible_output_seen")
      ? "; the user had already seen partial output, which a retry repeats"
      : ""
    return `safe, no tool with side effects had started${seen}`
  }
  if (retry.basis.includes("tool_kind_not_recorded"))
    return "unknown, a tool had started but its side-effect kind was not recorded"
  return "unknown, the tool side-effect facts were not recorded"
}
