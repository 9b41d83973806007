/**
 * Reads any session export this product or upstream opencode ever wrote, as hostile input: it
 * never throws, never trusts a file's own verdicts (chains are re-derived from the records, or
 * re-checked from their own links), and labels facts an old writer could not record as
 * `not_recorded_by_writer`, distinct from missing provenance.
 */
import { z } from "zod"
import { deriveIncidentChains, recheckChain } from "./incident-chain.ts"
import { EXPORT_SCHEMA, SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
import { plain } from "./plain-text.ts"
import { deriveRetry, type RetryToolFact } from "./retry.ts"
import {
  AlsoRequested,
  Classification,
  ClientAction,
  CrashEvidence,
  ErrorFact,
  IncidentChain,
  InstanceRef,
  InterruptMeta,
  LifecycleAction,
  Origin,
  ProviderProgress,
  RequestContext,
  RunId,
  RunSummary,
  SessionId,
  ToolFact,
  WatchdogState,
} from "./schemas.ts"

export { explainText } from "./explain.ts"

export { EXPORT_SCHEMA, SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
/** Records read per list; beyond this the rest are dropped, with a warning that says how many. */
export const MAX_RECORDS_PER_LIST = 200_000
/** Shown as the session id of incidents from a file that recorded none (or an invalid one). */
export const UNRECORDED_SESSION_ID = "ses_not_recorded"

export type ExportFormat = "v2" | "v1-messages" | "v1-diagnostics" | "upstream-opencode"

export interface StoppedMessage {
  messageId?: string
  /** The error's name as the writer recorded it (`MessageAbortedError`). */
  error: string
}

export interface ReadFailure {
  ok: false
  /** One sentence a person can act on. */
  error: string
}

export interface ReadSuccess {
  ok: true
  format: ExportFormat
  /** The version the file declares (absent for upstream opencode exports). */
  version?: number
  writer?: { name: string; version: string }
  session?: { id?: string; directory?: { digest: string; depth: number } }
  counts: { messages: number; runs: number; lifecycle: number; requests: number; renderer: number; crashes: number }
  warnings: string[]
  /** Dotted names of fields this reader does not understand (`diagnostics.runs[].newField`). */
  unknownFields: string[]
  incidents: IncidentChain[]
  /** Facts the file's writer could not have recorded. */
  notRecorded: string[]
  /** Messages that recorded an error, for formats with no run diagnostics. */
  stoppedMessages: StoppedMessage[]
  /** Lists the writer capped, as it stated them. */
  truncated: Record<string, { kept: number; dropped: number }>
}

export type ReadResult = ReadFailure | ReadSuccess

/** What messages-only files cannot contain: every fact of the causal spine. */
const NOT_IN_MESSAGES_ONLY = ["run_summary", "classification", "lifecycle_action", "origin", "request", "renderer_action", "interrupt_meta", "tool_facts", "retry"]
/** What a version 1 file with run diagnostics cannot contain. */
const NOT_IN_V1_DIAGNOSTICS = ["origin", "request", "renderer_action", "lifecycle_action", "interrupt_meta", "tool_kinds", "crash_evidence"]

const TOP_LEVEL_FIELDS = new Set(["schema", "version", "exportedAt", "writer", "session", "messages", "diagnostics", "incidents"])
const DIAGNOSTICS_FIELDS = new Set(["runs", "lifecycle", "requests", "renderer", "crashes", "truncated", "degraded"])
/** Fields the version 1 field export wrote on a run, read by the lenient run reader. */
const V1_RUN_FIELDS = ["reason", "tool"]
const MAX_UNKNOWN_FIELDS = 100
const MAX_STOPPED_MESSAGES = 50
const MAX_NAMED_WARNINGS = 10

type Json = Record<string, unknown>

/**
 * @example
 *   const result = readExport(JSON.parse(await readFile(file, "utf8")))
 *   if (result.ok) console.log(explainText(result))
 */
export function readExport(json: unknown): ReadResult {
  try {
    return read(json)
  } catch {
    // Hostile objects (throwing getters, proxies) end here rather than in the caller.
    return { ok: false, error: "The file could not be read: it contains values this reader cannot inspect." }
  }
}

export function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

function read(input: unknown): ReadResult {
  let doc: unknown = input
  if (typeof input === "string") {
    try {
      // A mark an editor put in front (line ends, CRLF included, are JSON whitespace already).
      doc = JSON.parse(stripByteOrderMark(input))
    } catch (error) {
      return fail(error instanceof SyntaxError ? "The file is not valid JSON." : "The file is too large or too deeply nested to parse.")
    }
  }
  if (Array.isArray(doc)) return fail("The file is a JSON list, not a session export (an export is one JSON object).")
  if (!isObject(doc)) return fail("The file is not a JSON object, so it is not a session export.")
  const keys = Object.keys(doc)
  if (keys.length === 0) return fail("The file is an empty JSON object: it holds no session, messages or diagnostics.")

  const schema = doc.schema
  if (schema !== undefined && schema !== EXPORT_SCHEMA) {
    return fail(
      typeof schema === "string"
        ? `The file is a "${plain(schema, 64)}" document, not an opencode session export.`
        : "The file's schema field is not an opencode session export.",
    )
  }

  const version = doc.version
  if (version === undefined) {
    if (isObject(doc.info) && Array.isArray(doc.messages)) return readUpstream(doc)
    if (schema === EXPORT_SCHEMA) return fail("The file names the session-export schema but has no version.")
    if (Array.isArray(doc.messages)) return readVersion1(doc, ["The file has no version field; it was read as version 1."])
    return fail("The file is not an opencode session export: it has no schema, version, session or messages.")
  }
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    const shown = typeof version === "string" ? `"${plain(version, 32)}"` : typeof version
    return fail(`The file's version (${shown}) is not a session export version, so it is probably another kind of document.`)
  }
  if (version === 1) return readVersion1(doc, [])
  if (version === SUPPORTED_EXPORT_VERSION) return readVersion2(doc, version, [])
  const understood = ["session", "messages", "diagnostics", "incidents"].some((field) => doc[field] !== undefined)
  if (!understood) {
    return fail(`The file is version ${version}, newer than this reader supports (${SUPPORTED_EXPORT_VERSION}), and has none of the fields it understands.`)
  }
  return readVersion2(doc, version, [])
}

function fail(error: string): ReadFailure {
  return { ok: false, error }
}

function emptyResult(format: ExportFormat, warnings: string[]): ReadSuccess {
  return {
    ok: true,
    format,
    counts: { messages: 0, runs: 0, lifecycle: 0, requests: 0, renderer: 0, crashes: 0 },
    warnings,
    unknownFields: [],
    incidents: [],
    notRecorded: [],
    stoppedMessages: [],
    truncated: {},
  }
}

function readUpstream(doc: Json): ReadSuccess {
  const result = emptyResult("upstream-opencode", [])
  const info = doc.info as Json
  const id = shortString(info.id)
  if (id) result.session = { id }
  readMessages(doc.messages, result)
  result.notRecorded = [...NOT_IN_MESSAGES_ONLY]
  result.unknownFields = unknownKeys(doc, new Set(["info", "messages"]), "")
  return result
}

function readVersion1(doc: Json, warnings: string[]): ReadResult {
  const diagnostics = doc.diagnostics
  const hasRuns = isObject(diagnostics) && Array.isArray(diagnostics.runs)
  if (!hasRuns && doc.messages === undefined) return fail("The version 1 file has neither messages nor run diagnostics.")
  const result = emptyResult(hasRuns ? "v1-diagnostics" : "v1-messages", warnings)
  result.version = 1
  readSession(doc.session, result)
  readMessages(doc.messages, result)
  result.unknownFields = unknownKeys(doc, TOP_LEVEL_FIELDS, "")
  if (!hasRuns) {
    if (diagnostics !== undefined) result.warnings.push("The diagnostics field has no list of runs; it was ignored.")
    result.notRecorded = [...NOT_IN_MESSAGES_ONLY]
    return result
  }
  const runs = readRuns(asList((diagnostics as Json).runs, "runs", result), result)
  result.unknownFields.push(...unknownKeys(diagnostics as Json, new Set(["runs"]), "diagnostics."))
  result.incidents = deriveIncidentChains({ runs, lifecycle: [], requests: [], renderer: [], crashes: [], writerVersion: 1 })
  result.notRecorded = unique([...NOT_IN_V1_DIAGNOSTICS, ...result.incidents.flatMap((chain) => chain.notRecorded ?? [])])
  result.unknownFields = cap(result.unknownFields)
  return result
}

function readVersion2(doc: Json, version: number, warnings: string[]): ReadSuccess {
  const result = emptyResult("v2", warnings)
  result.version = version
  const writer = z.object({ name: z.string().max(64), version: z.string().max(64) }).safeParse(doc.writer)
  if (writer.success) result.writer = writer.data
  readSession(doc.session, result)
  readMessages(doc.messages, result)
  result.unknownFields = unknownKeys(doc, TOP_LEVEL_FIELDS, "")

  const diagnostics = isObject(doc.diagnostics) ? doc.diagnostics : undefined
  let derived: IncidentChain[] = []
  if (diagnostics) {
    result.unknownFields.push(...unknownKeys(diagnostics, DIAGNOSTICS_FIELDS, "diagnostics."))
    const runs = readRuns(asList(diagnostics.runs, "runs", result), result)
    const lifecycle = readList(diagnostics.lifecycle, "lifecycle", LifecycleAction, result)
    const requests = readList(diagnostics.requests, "requests", RequestContext, result)
    const renderer = readList(diagnostics.renderer, "renderer", ClientAction, result)
    const crashes = readList(diagnostics.crashes, "crashes", CrashEvidence, result)
    Object.assign(result.counts, { lifecycle: lifecycle.length, requests: requests.length, renderer: renderer.length, crashes: crashes.length })
    readTruncated(diagnostics.truncated, result)
    derived = deriveIncidentChains({ runs, lifecycle, requests, renderer, crashes, writerVersion: version })
  } else if (doc.diagnostics !== undefined) {
    result.warnings.push("The diagnostics field is not an object; it was ignored.")
  }
  result.incidents = reconcileIncidents(derived, doc.incidents, result)
  result.notRecorded = unique(result.incidents.flatMap((chain) => chain.notRecorded ?? []))
  result.unknownFields = cap(result.unknownFields)
  if (version > SUPPORTED_EXPORT_VERSION) {
    const named = result.unknownFields.length > 0 ? ` Fields not understood: ${result.unknownFields.slice(0, 20).join(", ")}.` : ""
    result.warnings.unshift(
      `The file is version ${version}; this reader understands version ${SUPPORTED_EXPORT_VERSION}, so it was read best effort.${named}`,
    )
  }
  return result
}

/**
 * The file's own incidents are claims. Where its records let us re-derive a chain, the derived
 * one is used and any disagreement is reported; a chain whose records are absent (capped away) is
 * re-checked from its own origin and links.
 */
function reconcileIncidents(derived: IncidentChain[], written: unknown, result: ReadSuccess): IncidentChain[] {
  const byRun = new Map(derived.map((chain) => [chain.runId, chain]))
  const disagreements: string[] = []
  const rechecked: IncidentChain[] = []
  const seen = new Set<string>()
  let unreadable = 0
  for (const raw of asList(written, "incidents", result)) {
    const parsed = IncidentChain.safeParse(raw)
    if (!parsed.success) {
      unreadable++
      continue
    }
    const claim = parsed.data
    if (seen.has(claim.runId)) continue
    seen.add(claim.runId)
    const ours = byRun.get(claim.runId)
    if (ours) {
      if (ours.verdict !== claim.verdict || ours.classification !== claim.classification) {
        disagreements.push(`run ${claim.runId}: the file says ${claim.classification}/${claim.verdict}, its records say ${ours.classification}/${ours.verdict}`)
      }
      continue
    }
    const checked = recheckChain(sanitizeChain(claim))
    if (checked.verdict !== claim.verdict) {
      disagreements.push(`run ${claim.runId}: the file says ${claim.verdict}, its own links support ${checked.verdict}`)
    }
    rechecked.push(checked)
  }
  if (unreadable > 0) result.warnings.push(`${unreadable} incident(s) in the file could not be read and were skipped.`)
  if (rechecked.length > 0) {
    result.warnings.push(`${rechecked.length} incident(s) have no records in the file to re-derive them from; they were re-checked from their own links.`)
  }
  if (disagreements.length > 0) {
    const more = disagreements.length > MAX_NAMED_WARNINGS ? `; and ${disagreements.length - MAX_NAMED_WARNINGS} more` : ""
    result.warnings.push(`The file's incidents disagree with what this reader derives (the derived verdicts are shown): ${disagreements.slice(0, MAX_NAMED_WARNINGS).join("; ")}${more}.`)
  }
  return [...derived, ...rechecked]
}

/** Keeps only allow-listed origin fields and drops an embedded remote chain from an imported claim. */
function sanitizeChain(chain: IncidentChain): IncidentChain {
  const origin = Origin.safeParse(chain.origin)
  const { remote: _remote, ...rest } = chain
  return { ...rest, origin: origin.success ? origin.data : { kind: plain(chain.origin.kind, 32) } }
}

function readSession(raw: unknown, result: ReadSuccess): void {
  if (!isObject(raw)) return
  const session: NonNullable<ReadSuccess["session"]> = {}
  const id = shortString(raw.id)
  if (id) session.id = id
  const directory = z.object({ digest: z.string().regex(/^[a-f0-9]{8,64}$/), depth: z.number().int().nonnegative() }).safeParse(raw.directory)
  if (directory.success) session.directory = directory.data
  result.session = session
}

function readMessages(raw: unknown, result: ReadSuccess): void {
  if (raw === undefined) return
  if (!Array.isArray(raw)) {
    result.warnings.push("The messages field is not a list; it was ignored.")
    return
  }
  result.counts.messages = raw.length
  for (const message of raw.slice(0, MAX_RECORDS_PER_LIST)) {
    if (result.stoppedMessages.length >= MAX_STOPPED_MESSAGES) break
    if (!isObject(message)) continue
    const info = isObject(message.info) ? message.info : message
    const error = isObject(info.error) ? shortString(info.error.name) : undefined
    if (!error) continue
    const messageId = shortString(info.id)
    result.stoppedMessages.push(messageId ? { messageId, error } : { error })
  }
}

function readTruncated(raw: unknown, result: ReadSuccess): void {
  const parsed = z.record(z.string().max(32), z.object({ kept: z.number().int().nonnegative(), dropped: z.number().int().nonnegative() })).safeParse(raw)
  if (!parsed.success) return
  for (const [list, counts] of Object.entries(parsed.data).slice(0, 16)) {
    result.truncated[list] = counts
    if (counts.dropped > 0) result.warnings.push(`The writer kept ${counts.kept} ${plain(list, 32)} records and dropped ${counts.dropped}.`)
  }
}

function asList(raw: unknown, name: string, result: ReadSuccess): unknown[] {
  if (raw === undefined) return []
  if (!Array.isArray(raw)) {
    result.warnings.push(`The ${name} field is not a list; it was ignored.`)
    return []
  }
  if (raw.length > MAX_RECORDS_PER_LIST) {
    result.warnings.push(`The file has ${raw.length} ${name} records; only the first ${MAX_RECORDS_PER_LIST} were read.`)
    return raw.slice(0, MAX_RECORDS_PER_LIST)
  }
  return raw
}

function readList<T extends z.ZodObject<z.ZodRawShape>>(raw: unknown, name: string, schema: T, result: ReadSuccess): z.infer<T>[] {
  const list = asList(raw, name, result)
  const kept: z.infer<T>[] = []
  const unknown = new Set<string>()
  const known = new Set(Object.keys(schema.shape))
  for (const item of list) {
    const parsed = schema.safeParse(item)
    if (parsed.success) kept.push(parsed.data)
    if (isObject(item)) for (const key of Object.keys(item)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
  }
  if (kept.length < list.length) result.warnings.push(`${list.length - kept.length} of ${list.length} ${name} records could not be read and were skipped.`)
  result.unknownFields.push(...[...unknown].map((key) => `diagnostics.${name}[].${plain(key, 64)}`))
  return kept
}

/**
 * Runs are read leniently: a full `RunSummary`, or the sparse shape of the version 1 field
 * export. Retry is always re-derived from the facts the run carries, never taken from the file.
 */
function readRuns(list: unknown[], result: ReadSuccess): RunSummary[] {
  const fallbackSession = SessionId.safeParse(result.session?.id)
  let usedPlaceholder = false
  let skipped = 0
  let retryDisagreements = 0
  let unreadableInterrupts = 0
  const unknownClassifications = new Set<string>()
  const unknown = new Set<string>()
  const known = new Set([...Object.keys(RunSummary.shape), ...V1_RUN_FIELDS])
  const runs: RunSummary[] = []
  const seen = new Set<string>()
  list.forEach((raw, index) => {
    if (isObject(raw)) for (const key of Object.keys(raw)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
    const run = readRun(raw, index, fallbackSession.success ? fallbackSession.data : undefined)
    if (!run) {
      skipped++
      return
    }
    if (seen.has(run.summary.runId)) return
    seen.add(run.summary.runId)
    if (run.placeholderSession) usedPlaceholder = true
    if (run.unknownClassification) unknownClassifications.add(run.unknownClassification)
    if (run.retryDisagrees) retryDisagreements++
    if (run.interruptUnreadable) unreadableInterrupts++
    runs.push(run.summary)
  })
  result.counts.runs = runs.length
  result.unknownFields.push(...[...unknown].map((key) => `diagnostics.runs[].${plain(key, 64)}`))
  if (skipped > 0) result.warnings.push(`${skipped} of ${list.length} runs could not be read (no valid run id or classification) and were skipped.`)
  if (usedPlaceholder) result.warnings.push(`The file records no valid session id for some runs; their incidents show ${UNRECORDED_SESSION_ID}.`)
  if (unknownClassifications.size > 0) {
    result.warnings.push(`Runs with classifications this reader does not know (${[...unknownClassifications].slice(0, 5).join(", ")}) were read as unknown_interrupt.`)
  }
  if (unreadableInterrupts > 0) {
    result.warnings.push(`${unreadableInterrupts} run(s) carry an interrupt record this reader could not read; those runs are shown without it.`)
  }
  if (retryDisagreements > 0) result.warnings.push(`${retryDisagreements} run(s) claimed a retry verdict their own tool facts do not support; the verdict derived from the facts is shown.`)
  return runs
}

interface ReadRun {
  summary: RunSummary
  placeholderSession: boolean
  unknownClassification?: string
  retryDisagrees: boolean
  /** The run carried an interrupt record that did not parse: its chain will show the gap. */
  interruptUnreadable: boolean
}

const v1ToolFacts = z.object({ executionStarted: z.boolean() })

function readRun(raw: unknown, index: number, fallbackSession: string | undefined): ReadRun | undefined {
  if (!isObject(raw)) return undefined
  const runId = RunId.safeParse(raw.runId)
  if (!runId.success) return undefined
  let unknownClassification: string | undefined
  const classification = Classification.safeParse(raw.classification)
  if (!classification.success) {
    if (typeof raw.classification !== "string") return undefined
    unknownClassification = plain(raw.classification, 40)
  }
  const ownSession = SessionId.safeParse(raw.sessionId)
  const sessionId = ownSession.success ? ownSession.data : fallbackSession

  const tools = Array.isArray(raw.tools) ? raw.tools.slice(0, 64).flatMap((tool) => okOr(ToolFact.safeParse(tool), [])) : []
  const v1Tool = v1ToolFacts.safeParse(raw.tool)
  const toolFactsRecorded = typeof raw.toolFactsRecorded === "boolean" ? raw.toolFactsRecorded : Array.isArray(raw.tools) || v1Tool.success
  // The version 1 field export kept only whether a tool had started, not its kind.
  const retryTools: RetryToolFact[] = [...tools, ...(v1Tool.success && v1Tool.data.executionStarted ? [{ kind: "unknown" as const }] : [])]
  const visibleOutput = raw.visibleOutput === true
  const retry = deriveRetry({ tools: retryTools, toolFactsRecorded, visibleOutput })
  const claimed = raw.retry
  const retryDisagrees = isObject(claimed) && claimed.safe !== undefined && claimed.safe !== retry.safe

  const interruptParsed = raw.interrupt === undefined ? undefined : InterruptMeta.safeParse(raw.interrupt)
  const interrupt = interruptParsed?.success ? interruptParsed.data : undefined
  const providerRaw = isObject(raw.provider) ? raw.provider : {}
  const watchdogRaw = isObject(raw.watchdog) ? raw.watchdog : {}
  const summary = RunSummary.safeParse({
    runId: runId.data,
    sessionId: sessionId ?? UNRECORDED_SESSION_ID,
    seq: nonNegativeInt(raw.seq) ?? index,
    instance: okOr(InstanceRef.safeParse(raw.instance), undefined),
    startedAt: nonNegativeInt(raw.startedAt) ?? 0,
    finishedAt: nonNegativeInt(raw.finishedAt) ?? 0,
    classification: classification.success ? classification.data : "unknown_interrupt",
    interrupt,
    alsoRequestedBy: Array.isArray(raw.alsoRequestedBy) ? raw.alsoRequestedBy.slice(0, 64).flatMap((item) => okOr(AlsoRequested.safeParse(item), [])) : [],
    provider: okOr(ProviderProgress.safeParse(raw.provider), { chunks: 0, progress: providerRaw.progress === true }),
    watchdog: okOr(WatchdogState.safeParse(raw.watchdog), { fired: watchdogRaw.fired === true }),
    visibleOutput,
    tools,
    toolFactsRecorded,
    error: okOr(ErrorFact.safeParse(raw.error), undefined),
    retry,
    closeSite: typeof raw.closeSite === "string" && raw.closeSite.length <= 64 ? raw.closeSite : undefined,
    missing: Array.isArray(raw.missing) ? raw.missing.filter((name): name is string => typeof name === "string" && name.length <= 64).slice(0, 32) : [],
  })
  if (!summary.success) return undefined
  return {
    summary: summary.data,
    placeholderSession: sessionId === undefined,
    unknownClassification,
    retryDisagrees,
    interruptUnreadable: interruptParsed !== undefined && !interruptParsed.success,
  }
}

function okOr<T, F>(parsed: { success: true; data: T } | { success: false }, fallback: F): T | F {
  return parsed.success ? parsed.data : fallback
}

function nonNegativeInt(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function shortString(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= 128 ? plain(value, 128) : undefined
}

function unknownKeys(object: Json, known: ReadonlySet<string>, prefix: string): string[] {
  return Object.keys(object)
    .filter((key) => !known.has(key))
    .slice(0, MAX_UNKNOWN_FIELDS)
    .map((key) => `${prefix}${plain(key, 64)}`)
}

function cap(names: string[]): string[] {
  return unique(names).slice(0, MAX_UNKNOWN_FIELDS)
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)]
}
