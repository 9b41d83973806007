/**
 * An incident told as a person would tell it: the headline ("Stopped: you clicked Reload project
 * at 08:18:21, 2.3 s into the run"), the evidence badge with what is missing in words, the retry
 * advice naming the tool that ran, and the numbered event history. Pure: chain and records in,
 * words out, so each wording is unit-tested. Words never claim more than the chain supports.
 */
import {
  ABSOLUTE_PATH,
  applyRules,
  cutText,
  Origin,
  scrubSecrets,
  TOKEN_RULES,
  type IncidentChain,
  type RequestRef,
  type RunSummary,
} from "opencode/provenance"
import {
  actionWords,
  capitalize,
  classificationWords,
  configChangeWords,
  configFileWords,
  EVIDENCE_WORDS,
  HANDLER_WORDS,
  KIND_WORDS,
  MISMATCH_WORDS,
  missingWords,
  OPERATION_NOUN,
  operationTitle,
  SIGNAL_WORDS,
} from "./glossary.ts"
import type { DiagnosticsRecords } from "./export-data.ts"
import { type HistoryRecordKind, type HistorySource, recordAttributes, ROW_ID, runPart } from "./history-source.ts"

export interface StoryContext {
  /** Whether an action id was created in this app tab ("you clicked"). */
  isOwnAction?: (actionId: string | undefined) => boolean
  /**
   * The last line of output the user saw, from the transcript. Never shown as given: only as
   * `safeOutputLine` leaves it (secrets and paths marked, capped).
   */
  lastOutput?: string
  /**
   * Tool call id → the path it touched, from the transcript. A tool input: never shown. Its values
   * are only removed from the output line, wherever it quotes them.
   */
  toolPaths?: Record<string, string>
}

/** The longest output line a diagnostic view shows. */
const OUTPUT_MAX = 80
/** Scrubbing works on a bounded prefix, cut at a word boundary, as the server's redactor does. */
const OUTPUT_WINDOW = 2_048
const ELLIPSIS = "\u2026"

/**
 * The transcript's last output line as a diagnostic view may show it: control characters gone,
 * the tool paths the transcript names and every secret shape the server's records hide
 * (`SECRET_RULES`, then paths, then `TOKEN_RULES`) replaced by a visible marker, and cut to
 * `OUTPUT_MAX`. A line that arrives cut loses its last word, which may be a secret's prefix no
 * rule can recognise. Undefined when nothing is left to show.
 *
 * @example safeOutputLine("export OPENAI_API_KEY=sk-proj-abc") // "export OPENAI_API_KEY=[redacted:api_key]"
 */
export function safeOutputLine(text: string | undefined, toolPaths: Record<string, string> = {}): string | undefined {
  if (!text) return undefined
  let window = text
  let cut = false
  if (window.length > OUTPUT_WINDOW) {
    window = window.slice(0, OUTPUT_WINDOW)
    cut = true
  }
  let out = window.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
  if (out.trimEnd().endsWith(ELLIPSIS)) {
    out = out.trimEnd().slice(0, -ELLIPSIS.length)
    cut = true
  }
  // The rest of a word the cut went through: no rule can tell a secret's prefix from a word.
  if (cut) out = out.replace(/\S*$/, "")
  const known = Object.values(toolPaths).map((value) => ({ value, kind: "path" }))
  out = scrubSecrets(out, known)
  out = out.replace(ABSOLUTE_PATH, "[path]")
  out = applyRules(out, TOKEN_RULES)
  out = out.replace(/\s+/g, " ").trim()
  if (!out) return undefined
  return cutText(cut ? `${out} ${ELLIPSIS}` : out, OUTPUT_MAX)
}

/** A tool as a diagnostic view names it: its name and what it can do, never its input. */
function toolWords(tool: { name: string; kind: string }): string {
  return `\`${tool.name}\` (can ${KIND_WORDS[tool.kind] ?? "do something not recorded"})`
}

type ConfigOrigin = Extract<Origin, { kind: "config_invalidation" }>

/**
 * Who wrote a config change, from the origin's own facts: its request ref says which client
 * asked, `writtenByRoute` says our route wrote it. A request *record* no longer in the export only
 * means how the request was answered is unknown, never that the file was edited outside the app.
 */
function configWriter(origin: ConfigOrigin): "app" | "other_program" | "server_unrecorded" | "outside" {
  if (origin.request) return origin.request.clientKind === "app" ? "app" : "other_program"
  if (origin.writtenByRoute) return "server_unrecorded"
  return "outside"
}

/**
 * A config change in words, the one wording the headline, the event history and the waterfall
 * share: saved from the app, saved through the server by another program, saved through the server
 * with its request not recorded (a gap), or edited outside the app.
 *
 * @example configChangeClause(origin, isOwn) // "you saved the project's opencode.json (Save config)"
 */
export function configChangeClause(
  origin: ConfigOrigin,
  isOwn: (actionId: string | undefined) => boolean = () => false,
): string {
  const file = configFileWords(origin.scope)
  switch (configWriter(origin)) {
    case "app":
      return origin.request?.actionId && isOwn(origin.request.actionId)
        ? `you saved ${file} (${actionWords(origin.request.actionName ?? "config.save")})`
        : `${file} was saved from the app`
    case "other_program":
      return `${file} was saved through the server by another program (not this app)`
    case "server_unrecorded":
      return `${file} was saved through the server, but the request was not recorded`
    case "outside":
      return `${file} ${configChangeWords(origin.change)} outside the app`
  }
}

/** `08:18:21` in the viewer's time zone. */
export function clock(ms: number): string {
  const d = new Date(ms)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":")
}

/** `08:18:21.456`. */
export function clockMs(ms: number): string {
  return `${clock(ms)}.${String(new Date(ms).getMilliseconds()).padStart(3, "0")}`
}

/** `2.3 s`, `45 ms`, `3 min 5 s`. */
export function duration(ms: number): string {
  const abs = Math.abs(ms)
  if (abs < 1_000) return `${Math.round(ms)} ms`
  if (abs < 60_000) return `${(ms / 1_000).toFixed(abs < 10_000 ? 1 : 0)} s`
  const minutes = Math.floor(abs / 60_000)
  return `${minutes} min ${Math.round((abs % 60_000) / 1_000)} s`
}

/** The run's start and the facts drawn from its summary or its crash record. */
interface RunFacts {
  startedAt: number
  finishedAt?: number
  summary?: RunSummary
  crash?: DiagnosticsRecords["crashes"][number]
  tools: RunSummary["tools"]
  chunks?: number
}

export function runFacts(chain: IncidentChain, records: DiagnosticsRecords): RunFacts | undefined {
  const summary = records.runs.find((run) => run.runId === chain.runId)
  const crash = records.crashes.find((item) => item.runId === chain.runId)
  if (summary)
    return {
      startedAt: summary.startedAt,
      finishedAt: summary.finishedAt,
      summary,
      crash,
      tools: summary.tools,
      chunks: summary.provider.chunks,
    }
  if (crash) return { startedAt: crash.startedAt, crash, tools: crash.tools ?? [] }
  return undefined
}

/**
 * A lost run's last evidence: its last heartbeat, tool step or output, whichever came last (never
 * the restart that found it, nor a summary written then). Undefined for a run that was not lost.
 */
export function lastEvidenceAt(facts: RunFacts | undefined): number | undefined {
  const crash = facts?.crash
  if (!crash) return undefined
  const output = facts.summary?.provider
  const times = [
    crash.lastHeartbeatAt ?? crash.startedAt,
    ...facts.tools.map((tool) => tool.completedAt ?? tool.startedAt),
    output?.firstOutputAt,
    output?.lastOutputAt,
    crash.lastOutputAt,
  ]
  return Math.max(...times.filter((t): t is number => t !== undefined && t <= crash.detectedAt))
}

/** When the cause happened: the click's request, else the close, else the stop signal. */
function causeTime(chain: IncidentChain, records: DiagnosticsRecords): number | undefined {
  const origin = parsedOrigin(chain)
  const request = origin && "request" in origin ? origin.request : undefined
  const requestTime = request ? records.requests.find((item) => item.requestId === request.requestId)?.time : undefined
  if (requestTime !== undefined) return requestTime
  if (chain.requestRecord) return chain.requestRecord.time
  const root = chain.rootLifecycleId ?? chain.lifecycleId
  const lifecycle =
    records.lifecycle.find((item) => item.lifecycleId === root) ??
    records.lifecycle.find((item) => item.lifecycleId === chain.lifecycleId)
  if (lifecycle) return lifecycle.startedAt
  const run = records.runs.find((item) => item.runId === chain.runId)
  if (run?.interrupt) return run.watchdog.firedAt ?? run.interrupt.at
  return run?.finishedAt
}

function parsedOrigin(chain: Pick<IncidentChain, "origin">): Origin | undefined {
  const parsed = Origin.safeParse(chain.origin)
  return parsed.success ? parsed.data : undefined
}

/** Who or what stopped the run, as the subject of "Stopped: …". */
function causeWords(chain: IncidentChain, context: StoryContext = {}): string {
  const isOwn = context.isOwnAction ?? (() => false)
  const origin = parsedOrigin(chain)
  const noun = OPERATION_NOUN[chain.rootOperation ?? chain.operation ?? "reload"]
  if (chain.classification === "watchdog_timeout") return "the watchdog stopped it: the model made no progress in time"
  if (chain.classification === "provider_error") return "the model returned an error"
  if (chain.classification === "tool_error") return "a tool failed"
  if (!origin)
    return chain.origin.kind === "not_recorded_by_writer"
      ? "the file's writer could not record who stopped it"
      : "nothing recorded who or what stopped it"
  switch (origin.kind) {
    case "api_route": {
      const request = origin.request
      const what = chain.classification === "user_cancelled" ? "to stop this run" : `for a ${noun}`
      if (!request) return `something asked the server ${what}, but the request was not recorded`
      const label = actionWords(request.actionName)
      if (request.actionId && isOwn(request.actionId)) return `you clicked ${label}`
      if (request.clientKind === "app" && request.actionId) return `${label} was clicked in another app window`
      if (request.clientKind === "app")
        return `the app asked the server ${what}, but which button was clicked was not recorded`
      return `another program (not this app) asked the server ${what}`
    }
    case "config_invalidation":
      return configChangeClause(origin, isOwn)
    case "context_mismatch":
      return `${origin.reason ? MISMATCH_WORDS[origin.reason] : "something about the project changed"}, noticed when the project was next loaded`
    case "shutdown":
      return `the server was ${origin.signal ? SIGNAL_WORDS[origin.signal] : "shut down (how was not recorded)"}`
    case "server_handler":
      return origin.handler
        ? `${HANDLER_WORDS[origin.handler] ?? "the server itself"} stopped it`
        : "the server itself stopped it"
    case "forwarded_remote":
      return `the remote workspace ${origin.workspaceId ?? "(name not recorded)"} stopped it; why is known only there`
    case "unknown":
      return "nothing recorded who or what stopped it"
  }
}

/**
 * The headline.
 *
 * @example headlineWords(chain, records, { isOwnAction }) // "Stopped: you clicked Reload project at 08:18:21, 2.3 s into the run (4 chunks of output shown)."
 */
export function headlineWords(chain: IncidentChain, records: DiagnosticsRecords, context: StoryContext = {}): string {
  const facts = runFacts(chain, records)
  if (chain.verdict === "crash_evidence") {
    const last = lastEvidenceAt(facts) ?? facts?.startedAt
    const at =
      last !== undefined
        ? ` Last evidence at ${clock(last)}${facts ? `, ${duration(last - facts.startedAt)} into the run` : ""}${crashOutputWords(facts, context)};`
        : ""
    const restart = facts?.crash
      ? ` what happened after is unknown until the server restarted at ${clock(facts.crash.detectedAt)}.`
      : " what happened after is unknown."
    return `Lost: the server stopped without finishing this run.${at}${restart}`
  }
  const verb = chain.classification === "provider_error" || chain.classification === "tool_error" ? "Ended" : "Stopped"
  const at = causeTime(chain, records)
  const when =
    at !== undefined
      ? ` at ${clock(at)}${facts ? `, ${duration(Math.max(0, at - facts.startedAt))} into the run` : ""}`
      : ""
  return `${verb}: ${causeWords(chain, context)}${when}${outputWords(facts, context)}.`
}

/** How far a lost run's output got: the last line stored, else whether any was. */
function crashOutputWords(facts: RunFacts | undefined, context: StoryContext): string {
  const line = safeOutputLine(context.lastOutput, context.toolPaths)
  if (line) return ` (its output had reached “${line}”)`
  const stored = facts?.crash?.lastOutputAt ?? facts?.summary?.provider.lastOutputAt
  if (stored !== undefined && facts)
    return ` (output stored until ${duration(Math.max(0, stored - facts.startedAt))} into the run)`
  if (facts?.crash?.visibleOutput === false) return " (no output stored)"
  return ""
}

function outputWords(facts: RunFacts | undefined, context: StoryContext): string {
  const line = safeOutputLine(context.lastOutput, context.toolPaths)
  if (line) return ` (last output shown: “${line}”)`
  if (!facts?.summary) return ""
  if (!facts.summary.visibleOutput) return " (no output shown yet)"
  const chunks = facts.chunks ?? 0
  return ` (${chunks} chunk${chunks === 1 ? "" : "s"} of output shown)`
}

interface Evidence {
  label: string
  /** The missing facts, in words, by field name. */
  missing: { field: string; words: string }[]
  /** One sentence: what the evidence does and does not show. */
  note: string
}

export function evidenceWords(chain: IncidentChain): Evidence {
  const missing = chain.missing.map((field) => ({ field, words: missingWords(field) }))
  const list = missing.map((item) => item.words).join("; ")
  let note: string
  switch (chain.verdict) {
    case "diagnosed":
      note = "Every step from the cause to the stop is recorded."
      break
    case "partially_diagnosed":
      note = `The kind of cause is known, but not recorded: ${list || "some of its details"}.`
      break
    case "missing_provenance":
      note = `Nothing recorded what stopped this run. Missing: ${list || "the reload or close that stopped it"}.`
      break
    case "crash_evidence":
      note = `The server process ended without finishing the run: this is not a reload or close.${chain.possibleCause ? ` A ${OPERATION_NOUN[chain.possibleCause.operation]} was unfinished at the time: a possible cause, not a confirmed one.` : ""}${list ? ` Missing: ${list}.` : ""}`
      break
    case "remote_reported":
      note = `The remote workspace reported the stop; what stopped it there is known only to the remote.${list ? ` Missing: ${list}.` : ""}`
      break
  }
  return { label: EVIDENCE_WORDS[chain.verdict], missing, note }
}

interface RetryAdvice {
  safe: boolean | "unknown"
  words: string
  /** The tool calls that make a resend unsafe, in words ("`write` (can write files) completed at 1.2 s"), never their input. */
  tools: string[]
}

/** Whether resending the prompt is safe, naming the tools that ran and what they can change (never their input). */
export function retryAdvice(chain: IncidentChain, records: DiagnosticsRecords): RetryAdvice {
  const facts = runFacts(chain, records)
  const risky = (facts?.tools ?? []).filter((tool) => tool.kind !== "read")
  const tools = risky.map((tool) => {
    const name = toolWords(tool)
    const since = (at: number) => (facts ? duration(Math.max(0, at - facts.startedAt)) : clock(at))
    if (tool.status === "completed" && tool.completedAt !== undefined)
      return `${name} completed at ${since(tool.completedAt)}`
    if (tool.status === "running") return `${name} started at ${since(tool.startedAt)} and may not have finished`
    return `${name} started at ${since(tool.startedAt)} and was ${tool.status === "interrupted" ? "interrupted" : "failed"}${tool.completedAt !== undefined ? ` at ${since(tool.completedAt)}` : ""}`
  })
  const retry = chain.retry
  if (retry.safe === true) {
    const seen = retry.basis.includes("visible_output_seen")
      ? " The part of the answer already shown will be written again."
      : ""
    // A lost run's tool facts end where the server stopped: the advice says what it rests on.
    const basis =
      chain.verdict === "crash_evidence" || facts?.crash ? ", as far as was recorded before the server stopped" : ""
    return { safe: true, tools, words: `Safe to resend: no tool that changes anything had started${basis}.${seen}` }
  }
  if (retry.safe === false) {
    const kinds = retry.basis
      .filter((item) => item.startsWith("kind:"))
      .map((item) => KIND_WORDS[item.slice(5)] ?? item.slice(5))
    const what =
      tools.length > 0 ? tools.join("; ") : `a tool that can ${kinds.join(" and ") || "change things"} had started`
    return {
      safe: false,
      tools,
      words: `Not safe to resend as is: ${what}. Check what it changed before sending the prompt again.`,
    }
  }
  const why = retry.basis.includes("tool_kind_not_recorded")
    ? "a tool had started, but what it can change was not recorded"
    : "which tools had run was not recorded"
  return { safe: "unknown", tools, words: `Whether resending is safe is unknown: ${why}.` }
}

interface HistoryItem {
  at: number
  words: string
  /** Where the item comes from, for styling: the run itself or the chain that stopped it. */
  kind: "run" | "cause" | "stop" | "unknown"
  /** The kind of record it was read from, for the history's filters. */
  recordKind: HistoryRecordKind
  /** The waterfall rows drawing the same record (a row the waterfall leaves out is simply not there). */
  rowIds: string[]
  /** Every recorded attribute of that record, ids included. */
  attributes: [string, string][]
}

/**
 * The ordered event history (numbered by the caller): prompt sent → output → tool done →
 * reload requested → instance reloaded → run stopped. Ties keep causal order.
 */
export function eventHistory(
  chain: IncidentChain,
  records: DiagnosticsRecords,
  context: StoryContext = {},
): HistoryItem[] {
  const items: HistoryItem[] = []
  // The record the items added next are read from; set before each group of items.
  let from: HistorySource = runPart(chain.runId, {})
  const add = (at: number | undefined, words: string, kind: HistoryItem["kind"]) => {
    if (at !== undefined) items.push({ at, words, kind, ...from })
  }
  const facts = runFacts(chain, records)
  const summary = facts?.summary
  const runRow = [ROW_ID.run(chain.runId)]
  from = { recordKind: "run", rowIds: runRow, attributes: recordAttributes(summary ?? facts?.crash) }
  add(facts?.startedAt, `Prompt sent; the run started${summary?.model ? ` (${summary.model})` : ""}`, "run")
  from = runPart(chain.runId, { provider: summary?.provider })
  if (summary?.provider.firstOutputAt !== undefined) add(summary.provider.firstOutputAt, "First output shown", "run")
  for (const tool of facts?.tools ?? []) {
    from = runPart(chain.runId, { tool })
    // The tool's name and kind only: its input (the path it touched) is never shown.
    add(tool.startedAt, `Tool ${tool.name} started (can ${KIND_WORDS[tool.kind] ?? tool.kind})`, "run")
    if (tool.completedAt !== undefined)
      add(tool.completedAt, `Tool ${tool.name} ${tool.status === "completed" ? "done" : tool.status}`, "run")
  }
  from = runPart(chain.runId, { provider: summary?.provider })
  if (summary?.provider.lastOutputAt !== undefined && summary.provider.lastOutputAt !== summary.provider.firstOutputAt)
    add(summary.provider.lastOutputAt, "Last output shown", "run")
  if (facts?.crash) {
    from = { recordKind: "run", rowIds: runRow, attributes: recordAttributes(facts.crash) }
    add(facts.crash.lastHeartbeatAt, "Last sign of life from the run (heartbeat)", "run")
    from = { ...from, rowIds: [ROW_ID.restart] }
    add(
      facts.crash.detectedAt,
      "Server restarted and found the run unfinished; what happened in between is unknown",
      "unknown",
    )
  }

  const origin = parsedOrigin(chain)
  const request =
    origin && "request" in origin
      ? origin.request
      : origin?.kind === "context_mismatch"
        ? origin.detectedDuring
        : undefined
  const requestRecord = request ? records.requests.find((item) => item.requestId === request.requestId) : undefined
  if (request) from = requestSource(request, requestRecord, origin?.kind === "context_mismatch", records)
  if (origin?.kind === "api_route" && request) {
    const requested =
      chain.classification === "user_cancelled"
        ? "Stop requested"
        : `${operationTitle(chain.rootOperation ?? chain.operation)} requested`
    add(requestRecord?.time, `${requested} (${causeWords(chain, context)})`, "cause")
  } else if (origin?.kind === "config_invalidation") {
    add(requestRecord?.time, capitalize(configChangeClause(origin, context.isOwnAction)), "cause")
  } else if (origin?.kind === "context_mismatch") {
    add(
      requestRecord?.time,
      `The project was loaded again and ${origin.reason ? MISMATCH_WORDS[origin.reason] : "a change was noticed"}`,
      "cause",
    )
  }
  const path =
    chain.lifecyclePath && chain.lifecyclePath.length > 0
      ? chain.lifecyclePath
      : chain.lifecycleId
        ? [{ lifecycleId: chain.lifecycleId, operation: chain.operation ?? "reload" }]
        : []
  for (const step of path) {
    const action = records.lifecycle.find((item) => item.lifecycleId === step.lifecycleId)
    if (!action) continue
    from = {
      recordKind: "lifecycle",
      rowIds: [...(step === path[0] ? firstStepRows(origin) : []), ROW_ID.lifecycle(action.lifecycleId)],
      attributes: recordAttributes(action),
    }
    // A config change with no request row above (an edit outside the app, or a request no longer
    // recorded) is told with the close it started, in the same words as the headline.
    const startWords =
      origin?.kind === "config_invalidation" && step === path[0] && !requestRecord
        ? `${capitalize(configChangeClause(origin, context.isOwnAction))}; ${OPERATION_NOUN[step.operation]} started`
        : origin?.kind === "shutdown" && step === path[0]
          ? `${capitalize(causeWords(chain, context))}; ${OPERATION_NOUN[step.operation]} started`
          : `${operationTitle(step.operation)} started${reachWords(action, records)}`
    add(action.startedAt, startWords, "cause")
    from = { ...from, rowIds: [ROW_ID.lifecycle(action.lifecycleId)] }
    add(action.finishedAt, `${operationTitle(step.operation)} finished`, "cause")
  }
  from = runPart(chain.runId, { watchdog: summary?.watchdog }, [ROW_ID.handler])
  if (summary?.watchdog.fired)
    add(
      summary.watchdog.firedAt ?? summary.interrupt?.at,
      `The watchdog fired: no progress from the model${summary.watchdog.timeoutMs ? ` for ${duration(summary.watchdog.timeoutMs)}` : ""}`,
      "cause",
    )
  from = runPart(chain.runId, { interrupt: summary?.interrupt }, [ROW_ID.remote])
  if (summary?.interrupt && summary.interrupt.kind === "remote")
    add(
      summary.interrupt.at,
      `The remote workspace ${summary.interrupt.workspaceId ?? ""} ended the run's stream`.replace("  ", " "),
      "cause",
    )
  from = { recordKind: "run", rowIds: runRow, attributes: recordAttributes(summary) }
  if (summary && summary.classification !== "completed")
    add(summary.finishedAt, `Run ${classificationWords(summary.classification)}`, "stop")
  // Stable sort: equal times keep the order they were added in (causal order).
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => a.item.at - b.item.at || a.index - b.index)
    .map(({ item }) => item)
}

/**
 * A cause's request: a click in the app when it carries the click's action (its record joined in),
 * else a request. The request a mismatch was noticed during is the occasion, never the initiator.
 */
function requestSource(
  request: RequestRef,
  record: DiagnosticsRecords["requests"][number] | undefined,
  occasion: boolean,
  records: DiagnosticsRecords,
): HistorySource {
  const click = !occasion && request.actionId !== undefined
  const action = click ? records.renderer.find((item) => item.actionId === request.actionId) : undefined
  return {
    recordKind: click ? "action" : "request",
    rowIds: [
      ...(click ? [ROW_ID.action(request.actionId!)] : []),
      ...(occasion ? [ROW_ID.contextChange] : []),
      ROW_ID.request(request.requestId),
    ],
    attributes: [...recordAttributes(record ?? request), ...recordAttributes(action, "action")],
  }
}

/** The row the waterfall draws before the first close for an initiator that is not a request. */
function firstStepRows(origin: Origin | undefined): string[] {
  if (origin?.kind === "config_invalidation") return [ROW_ID.configChange]
  if (origin?.kind === "shutdown") return [ROW_ID.signal]
  return []
}

/** What a dispose-all reached: its directories, and the runs it and its children stopped. */
export function reach(
  action: DiagnosticsRecords["lifecycle"][number],
  records: DiagnosticsRecords,
): { directories: number; runs: number } {
  const family = records.lifecycle.filter(
    (item) => item.rootId === action.lifecycleId || item.lifecycleId === action.lifecycleId,
  )
  const runs = new Set(family.flatMap((item) => item.runIds))
  return { directories: action.directoryCount, runs: runs.size }
}

function reachWords(action: DiagnosticsRecords["lifecycle"][number], records: DiagnosticsRecords): string {
  if (action.operation !== "dispose_all") return ""
  const { directories, runs } = reach(action, records)
  return `: it reached ${directories} project${directories === 1 ? "" : "s"} and stopped ${runs} run${runs === 1 ? "" : "s"}`
}
