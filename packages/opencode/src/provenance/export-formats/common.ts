/**
 * What every export format's reader shares: the result it fills in, and the lenient readers of
 * the parts several formats have (session, messages, runs, capped lists).
 */
import { z } from "zod"
import { classificationForOperation, classifyInterrupt, rootOperationForClassification } from "../classification.ts"
import { codeToken, fieldPathToken, messageIdToken, nameToken, sessionIdToken } from "../foreign-text.ts"
import { deriveRetry, type RetryToolFact } from "../retry.ts"
import {
  AlsoRequested,
  Classification,
  ErrorFact,
  type IncidentChain,
  InstanceRef,
  InterruptMeta,
  type LifecycleAction,
  type LifecycleOperation,
  MAX_ALSO_REQUESTED,
  MAX_CLOSE_SITE,
  MAX_SUMMARY_TOOLS,
  ProviderProgress,
  type RetryVerdict,
  RunId,
  RunSummary,
  SessionId,
  SideEffectKind,
  ToolFact,
  WatchdogState,
} from "../schemas.ts"
import { unique } from "../unique.ts"

/** Records read per list; beyond this the rest are dropped, with a warning that says how many. */
export const MAX_RECORDS_PER_LIST = 200_000
/** Ids a warning names (duplicates, disagreements); the rest are counted. */
const MAX_NAMED_IDS = 5
/** Lifecycle parents followed to a root, as the chain's derivation does (`incident-chain.ts`). */
const MAX_LIFECYCLE_PATH = 16
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
  /**
   * The file's run records could not be read: no list of runs, a runs field that is not a list,
   * or a list none of whose runs parsed. It cannot say why any run stopped (never "nothing stopped").
   */
  runsUnreadable?: true
  /** Runs of the file's list that could not be read: it cannot say why those stopped. */
  runsSkipped?: number
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
  const id = sessionIdToken(raw.id)
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
    const messageId = messageIdToken(info.id)
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

/**
 * The records of a list that parse. `idKey` names the field that identifies a record: the chain's
 * derivation reads only the first record of an id, so a repeated one is named in a warning.
 */
export function readList<T extends z.ZodObject<z.ZodRawShape>>(
  raw: unknown,
  name: string,
  schema: T,
  result: ReadSuccess,
  idKey?: keyof z.infer<T> & string,
): z.infer<T>[] {
  const list = asList(raw, name, result)
  const kept: z.infer<T>[] = []
  const unknown = new Set<string>()
  const known = new Set(Object.keys(schema.shape))
  const duplicates = new Duplicates()
  for (const item of list) {
    const parsed = schema.safeParse(item)
    if (parsed.success) {
      kept.push(parsed.data)
      // The id is schema-checked (a spine id), so it may be named.
      if (idKey) duplicates.see(String(parsed.data[idKey]))
    }
    if (isObject(item))
      for (const key of Object.keys(item)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
  }
  if (kept.length < list.length)
    result.warnings.push(
      `${list.length - kept.length} of ${list.length} ${name} records could not be read and were skipped.`,
    )
  result.unknownFields.push(...fieldNames([...unknown], `diagnostics.${name}[].`))
  if (duplicates.count > 0)
    result.warnings.push(
      `The file lists ${duplicates.count} ${name} record(s) under an id an earlier record has (${duplicates.named()}); only the first record of each id was read.`,
    )
  return kept
}

/** Ids seen more than once: how many repeats, and the first few ids. */
class Duplicates {
  count = 0
  private readonly seen = new Set<string>()
  private readonly ids: string[] = []

  /** Whether `id` was seen before; counts it if so. */
  see(id: string): boolean {
    if (!this.seen.has(id)) {
      this.seen.add(id)
      return false
    }
    this.count++
    if (this.ids.length < MAX_NAMED_IDS && !this.ids.includes(id)) this.ids.push(id)
    return true
  }

  named(): string {
    return `${this.ids.join(", ")}${this.count > this.ids.length ? ", …" : ""}`
  }
}

/**
 * The runs of the file's `runs` field. A field that is absent or not a list, or a list none of
 * whose runs could be read, leaves the file unable to say why any run stopped: never "nothing stopped".
 */
export function readRunList(raw: unknown, result: ReadSuccess, doubted?: Set<string>): RunSummary[] {
  if (!Array.isArray(raw)) {
    result.runsUnreadable = true
    if (raw === undefined)
      result.warnings.push("The diagnostics have no list of runs, so the file cannot say why any run stopped.")
    else {
      // "The runs field is not a list; it was ignored."
      asList(raw, "runs", result)
      result.warnings.push("Without its list of runs, the file cannot say why any run stopped.")
    }
    return []
  }
  return readRuns(asList(raw, "runs", result), result, doubted)
}

/**
 * Runs are read leniently: a full `RunSummary`, or the sparse shape of the version 1 field
 * export. Retry is always re-derived from the facts the run carries, never taken from the file,
 * except that a file's "not safe" (or "unknown") is never read as safe. A run's interrupt record
 * is dropped, with a warning, when it names another run or contradicts the run's classification:
 * the chain then shows the gap, never a stop attributed by a record the file disagrees with. Each
 * such run, and each run whose records disagree, is added to `doubted`: a claim the file makes
 * about one of them never stands in for its derived chain.
 */
export function readRuns(list: unknown[], result: ReadSuccess, doubted?: Set<string>): RunSummary[] {
  const fallbackSession = SessionId.safeParse(result.session?.id)
  let skipped = 0
  const unknown = new Set<string>()
  const known = new Set([...Object.keys(RunSummary.shape), ...V1_RUN_FIELDS])
  const kept: ReadRun[] = []
  const byId = new Map<string, number>()
  const duplicates = new Duplicates()
  const conflicts: string[] = []
  list.forEach((raw, index) => {
    if (isObject(raw))
      for (const key of Object.keys(raw)) if (!known.has(key) && unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
    const run = readRun(raw, index, fallbackSession.success ? fallbackSession.data : undefined)
    if (!run) {
      skipped++
      return
    }
    const runId = run.summary.runId
    if (!duplicates.see(runId)) {
      byId.set(runId, kept.length)
      kept.push(run)
      return
    }
    const at = byId.get(runId)!
    const first = kept[at]!
    if (stopKey(first.summary) === stopKey(run.summary)) return
    // The file disagrees with itself about how the run stopped. Never silently "completed": an
    // interrupted record is explained, and without its interrupt record, so it never reads as diagnosed.
    if (!conflicts.includes(runId)) conflicts.push(runId)
    const chosen = first.summary.classification === "completed" ? run : first
    const { interrupt: _dropped, ...summary } = chosen.summary
    kept[at] = { ...chosen, summary }
  })
  const runs = kept.map((run) => run.summary)
  for (const run of kept) if (run.interruptOfAnother || run.interruptContradicts) doubted?.add(run.summary.runId)
  for (const runId of conflicts) doubted?.add(runId)
  result.counts.runs = runs.length
  result.unknownFields.push(...fieldNames([...unknown], "diagnostics.runs[]."))
  if (skipped > 0) {
    const none = runs.length === 0
    if (none) result.runsUnreadable = true
    else result.runsSkipped = skipped
    result.warnings.push(
      `${skipped} of ${list.length} runs could not be read (no valid run id or classification) and were skipped${none ? ", so the file cannot say why any run stopped" : ""}.`,
    )
  }
  if (kept.some((run) => run.placeholderSession))
    result.warnings.push(
      `The file records no valid session id for some runs; their incidents show ${UNRECORDED_SESSION_ID}.`,
    )
  const unknownClassifications = unique(kept.flatMap((run) => run.unknownClassification ?? []))
  if (unknownClassifications.length > 0) {
    result.warnings.push(
      `Runs with classifications this reader does not know (${unknownClassifications.slice(0, 5).join(", ")}) were read as unknown_interrupt.`,
    )
  }
  if (duplicates.count > 0) {
    const named = conflicts.slice(0, MAX_NAMED_IDS).join(", ")
    const disagree =
      conflicts.length > 0
        ? ` The file disagrees with itself about how ${named}${conflicts.length > MAX_NAMED_IDS ? ", …" : ""} stopped: the stop is explained, without its interrupt record.`
        : ""
    result.warnings.push(
      `The file lists ${duplicates.count} run record(s) under a run id an earlier record has (${duplicates.named()}); one record of each run was read.${disagree}`,
    )
  }
  const count = (flag: keyof ReadRun) => kept.filter((run) => run[flag]).length
  const unreadableInterrupts = count("interruptUnreadable")
  if (unreadableInterrupts > 0) {
    result.warnings.push(
      `${unreadableInterrupts} run(s) carry an interrupt record this reader could not read; those runs are shown without it.`,
    )
  }
  const foreign = kept.filter((run) => run.interruptOfAnother)
  if (foreign.length > 0) {
    result.warnings.push(
      `${foreign.length} run(s) carry an interrupt record that names another run or session (${namedRuns(foreign)}); those runs are shown without it.`,
    )
  }
  const contradicted = kept.flatMap((run) => run.interruptContradicts ?? [])
  if (contradicted.length > 0) pushContradictions(contradicted, result)
  const unreadableTools = count("toolsUnreadable")
  if (unreadableTools > 0) {
    result.warnings.push(
      `${unreadableTools} run(s) list a tool this reader could not read; each is judged as a tool whose side effects are not known.`,
    )
  }
  const retryDisagreements = count("retryDisagrees")
  if (retryDisagreements > 0)
    result.warnings.push(
      `${retryDisagreements} run(s) claimed a retry verdict their own tool facts do not support; the verdict derived from the facts is shown, except that a run the file calls unsafe (or unknown) is never shown as safe.`,
    )
  return runs
}

/** How a record says its run stopped: two records of one run that differ here disagree. */
function stopKey(run: RunSummary): string {
  const interrupt = run.interrupt
  return [run.classification, interrupt?.kind, interrupt?.lifecycle?.lifecycleId, interrupt?.seq].join("|")
}

function namedRuns(runs: readonly ReadRun[]): string {
  const ids = runs.slice(0, MAX_NAMED_IDS).map((run) => run.summary.runId)
  return `${ids.join(", ")}${runs.length > ids.length ? ", …" : ""}`
}

/** A run whose classification the file's own interrupt record, or lifecycle action, contradicts. */
interface Contradiction {
  runId: string
  classification: Classification
  /** What the other record says, in words: "its interrupt record is a user cancel". */
  other: string
}

function pushContradictions(list: readonly Contradiction[], result: ReadSuccess): void {
  const named = list
    .slice(0, MAX_NAMED_IDS)
    .map((item) => `${item.runId} is classified ${item.classification}, but ${item.other}`)
  const more = list.length > named.length ? `; and ${list.length - named.length} more` : ""
  result.warnings.push(
    `The file disagrees with itself about why ${list.length} run(s) stopped (${named.join("; ")}${more}); those runs are shown without their interrupt record, so their chains name it missing.`,
  )
}

const INTERRUPT_KIND_WORDS: Record<InterruptMeta["kind"], string> = {
  lifecycle: "a lifecycle close",
  user_cancel: "a user cancel",
  watchdog: "the watchdog",
  remote: "a remote workspace's stop",
}

/**
 * What the run's interrupt record says that its classification contradicts, or undefined when
 * they agree. `unknown_interrupt` claims no cause (a run that never settled keeps its interrupt
 * record), and a process exit's chain never reads its interrupt: neither can contradict one.
 */
function interruptContradiction(classification: Classification, meta: InterruptMeta): string | undefined {
  if (classification === "unknown_interrupt" || classification === "process_exit_without_finalizer") return undefined
  const implied = classifyInterrupt(meta, true, "aborted")
  const agrees =
    implied === "unknown_interrupt"
      ? // A lifecycle interrupt without its action: any lifecycle classification agrees with it.
        rootOperationForClassification(classification) !== undefined
      : implied === classification
  if (agrees) return undefined
  const operation = meta.kind === "lifecycle" && meta.lifecycle ? ` (${meta.lifecycle.rootOperation})` : ""
  return `its interrupt record is ${INTERRUPT_KIND_WORDS[meta.kind]}${operation}`
}

/**
 * The runs with the interrupt record dropped of each run whose classification the root operation
 * of the lifecycle action that record names (as the file's lifecycle list records it) contradicts,
 * with a warning naming them, each added to `doubted`. The chain attributes a lifecycle stop to
 * that root action, so a reload classification whose recorded action is a dispose must not read as diagnosed.
 */
export function dropContradictedLifecycle(
  runs: readonly RunSummary[],
  lifecycle: readonly LifecycleAction[],
  result: ReadSuccess,
  doubted: Set<string>,
): RunSummary[] {
  const byId = new Map<string, LifecycleAction>()
  for (const action of lifecycle) if (!byId.has(action.lifecycleId)) byId.set(action.lifecycleId, action)
  const contradicted: Contradiction[] = []
  const kept = runs.map((run) => {
    const embedded = run.interrupt?.kind === "lifecycle" ? run.interrupt.lifecycle : undefined
    if (!embedded || run.classification === "unknown_interrupt") return run
    if (run.classification === "process_exit_without_finalizer") return run
    const root = recordedRoot(byId, embedded.lifecycleId)
    if (!root || classificationForOperation(root.operation) === run.classification) return run
    doubted.add(run.runId)
    contradicted.push({
      runId: run.runId,
      classification: run.classification,
      other: `the lifecycle action its interrupt record names is ${
        root.lifecycleId === embedded.lifecycleId
          ? `a ${root.operation} (${root.lifecycleId})`
          : `under a ${root.operation} (${root.lifecycleId})`
      }`,
    })
    const { interrupt: _dropped, ...rest } = run
    return rest
  })
  if (contradicted.length > 0) pushContradictions(contradicted, result)
  return kept
}

/** The recorded root of a lifecycle action (the farthest recorded ancestor, when it has no parent). */
function recordedRoot(
  byId: ReadonlyMap<string, LifecycleAction>,
  lifecycleId: string,
): { lifecycleId: string; operation: LifecycleOperation } | undefined {
  const seen = new Set<string>()
  let current = byId.get(lifecycleId)
  let top: LifecycleAction | undefined
  while (current && !seen.has(current.lifecycleId) && seen.size < MAX_LIFECYCLE_PATH) {
    seen.add(current.lifecycleId)
    top = current
    current = current.parentId ? byId.get(current.parentId) : undefined
  }
  return top && top.parentId === undefined ? { lifecycleId: top.lifecycleId, operation: top.operation } : undefined
}

interface ReadRun {
  summary: RunSummary
  placeholderSession: boolean
  unknownClassification?: string
  retryDisagrees: boolean
  /** The run carried an interrupt record that did not parse: its chain will show the gap. */
  interruptUnreadable: boolean
  /** The run carried another run's (or session's) interrupt record: dropped, its chain shows the gap. */
  interruptOfAnother: boolean
  /** The run's interrupt record contradicts its classification: dropped, its chain shows the gap. */
  interruptContradicts?: Contradiction
  /** The run listed a tool that did not parse: judged as a tool of unknown kind. */
  toolsUnreadable: boolean
}

const v1ToolFacts = z.object({ executionStarted: z.boolean() })
/** The kinds whose tool makes a retry unsafe, as `deriveRetry` judges them. */
const SIDE_EFFECTS: ReadonlySet<string> = new Set(["write", "exec", "network"])
/** The names a retry verdict's basis keeps from a file's claim (`deriveRetry`'s own). */
const CLAIMED_UNSAFE_BASIS = new Set(["kind:write", "kind:exec", "kind:network"])

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

  const rawTools = Array.isArray(raw.tools) ? raw.tools : []
  const parsedTools = rawTools.map((tool) => ToolFact.safeParse(tool))
  const listed = parsedTools.flatMap((parsed) => okOr(parsed, []))
  const tools = keptTools(listed)
  // A tool the file lists but this reader cannot parse (a newer writer's side-effect kind, a longer
  // name) still started: judged by its kind when that is a known side effect, else as unknown.
  const unreadableTools: RetryToolFact[] = parsedTools.flatMap((parsed, at) => {
    if (parsed.success) return []
    const tool = rawTools[at]
    const kind = SideEffectKind.safeParse(isObject(tool) ? tool.kind : undefined)
    return [{ kind: kind.success && SIDE_EFFECTS.has(kind.data) ? kind.data : ("unknown" as const) }]
  })
  const v1Tool = v1ToolFacts.safeParse(raw.tool)
  const toolFactsRecorded =
    typeof raw.toolFactsRecorded === "boolean" ? raw.toolFactsRecorded : Array.isArray(raw.tools) || v1Tool.success
  // Retry is judged from every tool the file lists, not only those a summary keeps. The version 1
  // field export kept only whether a tool had started, not its kind.
  const retryTools: RetryToolFact[] = [
    ...listed,
    ...unreadableTools,
    ...(v1Tool.success && v1Tool.data.executionStarted ? [{ kind: "unknown" as const }] : []),
  ]
  const visibleOutput = raw.visibleOutput === true
  const claimed = isObject(raw.retry) ? raw.retry : undefined
  const derived = deriveRetry({ tools: retryTools, toolFactsRecorded, visibleOutput })
  const retryDisagrees = claimed !== undefined && claimed.safe !== undefined && claimed.safe !== derived.safe
  const retry = neverSaferThanClaimed(derived, claimed)

  const interruptParsed = raw.interrupt === undefined ? undefined : InterruptMeta.safeParse(raw.interrupt)
  let interrupt = interruptParsed?.success ? interruptParsed.data : undefined
  // Another run's record (a damaged file, a writer's bug) says nothing about why this run stopped.
  const interruptOfAnother =
    interrupt !== undefined &&
    (interrupt.runId !== runId.data || (sessionId !== undefined && interrupt.sessionId !== sessionId))
  if (interruptOfAnother) interrupt = undefined
  const contradiction =
    interrupt && classification.success ? interruptContradiction(classification.data, interrupt) : undefined
  if (contradiction) interrupt = undefined
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
    interruptOfAnother,
    ...(contradiction && classification.success
      ? {
          interruptContradicts: {
            runId: runId.data,
            classification: classification.data,
            other: contradiction,
          },
        }
      : {}),
    toolsUnreadable: unreadableTools.length > 0,
  }
}

/**
 * The derived verdict, except where it is safer than the file's own claim: a run the file calls
 * unsafe stays unsafe (its writer saw every tool, some may be gone from the file), and one it
 * calls unknown is never made safe.
 */
function neverSaferThanClaimed(derived: RetryVerdict, claimed: Json | undefined): RetryVerdict {
  if (!claimed || derived.safe === false) return derived
  if (claimed.safe === false) {
    const kinds = Array.isArray(claimed.basis)
      ? claimed.basis.filter((name): name is string => typeof name === "string" && CLAIMED_UNSAFE_BASIS.has(name))
      : []
    return { safe: false, basis: ["side_effect_tool_started", ...unique(kinds)] }
  }
  if (claimed.safe === "unknown" && derived.safe === true) {
    const basis = Array.isArray(claimed.basis) && claimed.basis.includes("tool_kind_not_recorded")
    return { safe: "unknown", basis: [basis ? "tool_kind_not_recorded" : "tool_facts_not_recorded"] }
  }
  return derived
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
