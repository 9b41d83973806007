/**
 * What every export format's reader shares: the result it fills in, and the lenient readers of
 * the parts several formats have (session, messages, runs, capped lists).
 */
import { z } from "zod"
import { codeToken, fieldPathToken, nameToken } from "../foreign-text.ts"
import { deriveRetry, type RetryToolFact } from "../retry.ts"
import {
  AlsoRequested,
  Classification,
  ErrorFact,
  type IncidentChain,
  InstanceRef,
  InterruptMeta,
  MAX_ALSO_REQUESTED,
  MAX_CLOSE_SITE,
  MAX_SUMMARY_TOOLS,
  ProviderProgress,
  RunId,
  RunSummary,
  SessionId,
  ToolFact,
  WatchdogState,
} from "../schemas.ts"
import { unique } from "../unique.ts"

/** Records read per list; beyond this the rest are dropped, with a warning that says how many. */
export const MAX_RECORDS_PER_LIST = 200_000
/** Shown as the session id of incidents from a file that recorded none (or an invalid one). */
const UNRECORDED_SESSION_ID = "ses_not_recorded"

type ExportFormat = "v2" | "v1-messages" | "v1-diagnostics" | "upstream-opencode"

interface StoppedMessage {
  messageId?: string
  /** The error's name as the writer recorded it (`MessageAbortedError`). */
  error: string
}

interface ReadFailure {
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
  /** A version 2 file without its diagnostics: it cannot say why a run stopped (never "nothing stopped"). */
  diagnosticsMissing?: true
}

export type ReadResult = ReadFailure | ReadSuccess

/** What messages-only files cannot contain: every fact of the causal spine. */
export const NOT_IN_MESSAGES_ONLY = [
  "run_summary",
  "classification",
  "lifecycle_action",
  "origin",
  "request",
  "renderer_action",
  "interrupt_meta",
  "tool_facts",
  "retry",
]
export const TOP_LEVEL_FIELDS = new Set([
  "schema",
  "version",
  "exportedAt",
  "writer",
  "session",
  "messages",
  "diagnostics",
  "incidents",
])
/** Fields the version 1 field export wrote on a run, read by the lenient run reader. */
const V1_RUN_FIELDS = ["reason", "tool"]
const MAX_UNKNOWN_FIELDS = 100
const MAX_STOPPED_MESSAGES = 50

export type Json = Record<string, unknown>

export function fail(error: string): ReadFailure {
  return { ok: false, error }
}

export function emptyResult(format: ExportFormat, warnings: string[]): ReadSuccess {
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

export function readSession(raw: unknown, result: ReadSuccess): void {
  if (!isObject(raw)) return
  const session: NonNullable<ReadSuccess["session"]> = {}
  const id = shortString(raw.id)
  if (id) session.id = id
  const directory = z
    .object({ digest: z.string().regex(/^[a-f0-9]{8,64}$/), depth: z.number().int().nonnegative() })
    .safeParse(raw.directory)
  if (directory.success) session.directory = directory.data
  result.session = session
}

export function readMessages(raw: unknown, result: ReadSuccess): void {
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
    // The writer's error name, kept only when it is a name (`MessageAbortedError`), never free text.
    const error =
      isObject(info.error) && info.error.name !== undefined
        ? (codeToken(info.error.name) ?? "an unreadable error")
        : undefined
    if (!error) continue
    const messageId = shortString(info.id)
    result.stoppedMessages.push(messageId ? { messageId, error } : { error })
  }
}

export function asList(raw: unknown, name: string, result: ReadSuccess): unknown[] {
  if (raw === undefined) return []
  if (!Array.isArray(raw)) {
    result.warnings.push(`The ${name} field is not a list; it was ignored.`)
    return []
  }
  if (raw.length > MAX_RECORDS_PER_LIST) {
    result.warnings.push(tooManyRecords(raw.length, name))
    return raw.slice(0, MAX_RECORDS_PER_LIST)
  }
  return raw
}

export function tooManyRecords(count: number, name: string): string {
  return `The file has ${count} ${name} records; only the first ${MAX_RECORDS_PER_LIST} were read.`
}

/**
 * What `readMessages` reads of one message, and nothing else: a large file's messages are read one
 * at a time and only this is kept. The same message gives `readMessages` the same facts.
 */
export function messageFacts(message: unknown): Json | null {
  if (!isObject(message)) return null
  const info = isObject(message.info) ? message.info : message
  return isObject(info.error) && info.error.name !== undefined ? { id: info.id, error: { name: info.error.name } } : {}
}

export function readList<T extends z.ZodObject<z.ZodRawShape>>(
  raw: unknown,
  name: string,
  schema: T,
  result: ReadSuccess,
): z.infer<T>[] {
  const list = asList(raw, name, result)
  const kept: z.infer<T>[] = []
  const unknown = new Set<string>()
  const known = new Set(Object.keys(schema.shape))
  for (const item of list) {
    const parsed = schema.safeParse(item)
    if (parsed.success) kept.push(parsed.data)
    if (isObject(item))
      for (const key of Object.keys(item)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
  }
  if (kept.length < list.length)
    result.warnings.push(
      `${list.length - kept.length} of ${list.length} ${name} records could not be read and were skipped.`,
    )
  result.unknownFields.push(...fieldNames([...unknown], `diagnostics.${name}[].`))
  return kept
}

/**
 * Runs are read leniently: a full `RunSummary`, or the sparse shape of the version 1 field
 * export. Retry is always re-derived from the facts the run carries, never taken from the file.
 */
export function readRuns(list: unknown[], result: ReadSuccess): RunSummary[] {
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
    if (isObject(raw))
      for (const key of Object.keys(raw)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
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
  result.unknownFields.push(...fieldNames([...unknown], "diagnostics.runs[]."))
  if (skipped > 0)
    result.warnings.push(
      `${skipped} of ${list.length} runs could not be read (no valid run id or classification) and were skipped.`,
    )
  if (usedPlaceholder)
    result.warnings.push(
      `The file records no valid session id for some runs; their incidents show ${UNRECORDED_SESSION_ID}.`,
    )
  if (unknownClassifications.size > 0) {
    result.warnings.push(
      `Runs with classifications this reader does not know (${[...unknownClassifications].slice(0, 5).join(", ")}) were read as unknown_interrupt.`,
    )
  }
  if (unreadableInterrupts > 0) {
    result.warnings.push(
      `${unreadableInterrupts} run(s) carry an interrupt record this reader could not read; those runs are shown without it.`,
    )
  }
  if (retryDisagreements > 0)
    result.warnings.push(
      `${retryDisagreements} run(s) claimed a retry verdict their own tool facts do not support; the verdict derived from the facts is shown.`,
    )
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
    unknownClassification = nameToken(raw.classification, 40) ?? "(not a name)"
  }
  const ownSession = SessionId.safeParse(raw.sessionId)
  const sessionId = ownSession.success ? ownSession.data : fallbackSession

  const listed = Array.isArray(raw.tools) ? raw.tools.flatMap((tool) => okOr(ToolFact.safeParse(tool), [])) : []
  const tools = keptTools(listed)
  const v1Tool = v1ToolFacts.safeParse(raw.tool)
  const toolFactsRecorded =
    typeof raw.toolFactsRecorded === "boolean" ? raw.toolFactsRecorded : Array.isArray(raw.tools) || v1Tool.success
  // Retry is judged from every tool the file lists, not only those a summary keeps. The version 1
  // field export kept only whether a tool had started, not its kind.
  const retryTools: RetryToolFact[] = [
    ...listed,
    ...(v1Tool.success && v1Tool.data.executionStarted ? [{ kind: "unknown" as const }] : []),
  ]
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
    alsoRequestedBy: Array.isArray(raw.alsoRequestedBy)
      ? raw.alsoRequestedBy.slice(0, MAX_ALSO_REQUESTED).flatMap((item) => okOr(AlsoRequested.safeParse(item), []))
      : [],
    provider: okOr(ProviderProgress.safeParse(raw.provider), { chunks: 0, progress: providerRaw.progress === true }),
    watchdog: okOr(WatchdogState.safeParse(raw.watchdog), { fired: watchdogRaw.fired === true }),
    visibleOutput,
    tools,
    toolFactsRecorded,
    error: okOr(ErrorFact.safeParse(raw.error), undefined),
    retry,
    closeSite: typeof raw.closeSite === "string" && raw.closeSite.length <= MAX_CLOSE_SITE ? raw.closeSite : undefined,
    missing: Array.isArray(raw.missing)
      ? raw.missing.filter((name): name is string => typeof name === "string" && name.length <= 64).slice(0, 32)
      : [],
    // Written from version 2 on by builds that link resends; a link that does not parse is dropped.
    resendOf: okOr(RunId.safeParse(raw.resendOf), undefined),
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

/** The tools a summary can hold: all up to the bound, beyond it side effects first, in the order the file lists them. */
function keptTools(listed: ToolFact[]): ToolFact[] {
  if (listed.length <= MAX_SUMMARY_TOOLS) return listed
  const sideEffects = listed.filter((tool) => tool.kind !== "read").slice(0, MAX_SUMMARY_TOOLS)
  const keep = new Set([
    ...sideEffects,
    ...listed.filter((tool) => tool.kind === "read").slice(0, MAX_SUMMARY_TOOLS - sideEffects.length),
  ])
  return listed.filter((tool) => keep.has(tool))
}

function okOr<T, F>(parsed: { success: true; data: T } | { success: false }, fallback: F): T | F {
  return parsed.success ? parsed.data : fallback
}

function nonNegativeInt(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

/** An id the file gives (a session's, a message's), kept only when it is id-shaped: never free text. */
export function shortString(value: unknown): string | undefined {
  return typeof value === "string" && /^[A-Za-z0-9_.:-]{1,128}$/.test(value) ? value : undefined
}

export function unknownKeys(object: Json, known: ReadonlySet<string>, prefix: string): string[] {
  return fieldNames(
    Object.keys(object)
      .filter((key) => !known.has(key))
      .slice(0, MAX_UNKNOWN_FIELDS),
    prefix,
  )
}

/** The file's own keys, named only when a key is a field name (a key can be free text too). */
function fieldNames(keys: string[], prefix: string): string[] {
  return keys.flatMap((key) => (key.length <= 64 ? (fieldPathToken(`${prefix}${key}`) ?? []) : []))
}

export function cap(names: string[]): string[] {
  return unique(names).slice(0, MAX_UNKNOWN_FIELDS)
}
