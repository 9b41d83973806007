/**
 * The session export, version 2 (docs/protocol.md, "Export format"): the session, its messages, the diagnostic
 * records linked to its runs, and the incident chains derived from them. What leaves the
 * machine is built from allow-listed records only: directories become salted digests, and
 * `content: "diagnostics"` leaves out message text and the title.
 */
import { remoteChain } from "../provenance/remote-chain.ts"
import { deriveIncidentChains } from "../provenance/incident-chain.ts"
import { EXPORT_SCHEMA, SUPPORTED_EXPORT_VERSION } from "../provenance/export-version.ts"
import type { SessionExportDocument } from "../provenance/export-document.ts"
import { recordFormat } from "../provenance/node/record-format.ts"
import {
  ClientAction,
  CrashEvidence,
  type IncidentChain,
  LifecycleAction,
  RequestContext,
  RunSummary,
} from "../provenance/schemas.ts"
import type { Redactor } from "../provenance/node/redaction.ts"
import type { Journal } from "../storage/journal.ts"
import type { MessagePosition, SessionInfo, SessionStore } from "./session-store.ts"
import type { MessageInfo, Part } from "../provenance/wire.ts"

const WRITER = { name: "opencode-provenance", version: "0.1.0" }
/** Records kept per diagnostics list; the rest are counted in `truncated`. */
const EXPORT_LIST_CAP = 5000

/** The document: `z.infer` of the one schema the published JSON Schema is generated from. */
type SessionExport = SessionExportDocument

interface ExportDeps {
  sessions: SessionStore
  journal: Journal
  redactor: Redactor
  /** The writer's storage health; its faults are stated in the export when there are any. */
  health?: () => { degraded: string[]; journal: { lost: number; backlog: number } }
}

type ExportContent = "full" | "diagnostics"

/**
 * @example const doc = buildSessionExport(host, "ses_…", "diagnostics")
 * @returns undefined when the session does not exist.
 */
export function buildSessionExport(
  deps: ExportDeps,
  sessionId: string,
  content: ExportContent = "full",
  cap = EXPORT_LIST_CAP,
): SessionExport | undefined {
  const session = deps.sessions.getSession(sessionId)
  if (!session) return undefined
  return {
    ...exportHead(deps, session, content),
    messages: deps.sessions.messages(sessionId).map((message) => exportMessage(message, content)),
    ...exportDiagnostics(deps, sessionId, cap),
  }
}

/** Messages read per page by the streamed export: a page of ordinary messages is a few hundred kB (a page of 200 000-character prompts would be about 50 MB: pages count messages, not bytes). */
export const EXPORT_MESSAGE_PAGE = 256

/**
 * The export as text, written as it is read: the same bytes as `JSON.stringify(buildSessionExport(…),
 * null, indent)`, produced in pieces. Messages are read a page at a time as the reader pulls, and
 * the diagnostics (bounded by the caps) once the messages are written; no piece is the whole
 * document. A reader that stops pulling stops the reading: no page is read after it.
 * @returns undefined when the session does not exist.
 */
export function sessionExportText(
  deps: ExportDeps,
  sessionId: string,
  content: ExportContent = "full",
  options: { cap?: number; indent?: number; page?: number } = {},
): Generator<string, void, undefined> | undefined {
  const session = deps.sessions.getSession(sessionId)
  if (!session) return undefined
  const cap = options.cap ?? EXPORT_LIST_CAP
  const page = options.page ?? EXPORT_MESSAGE_PAGE
  let diagnostics: ReturnType<typeof exportDiagnostics> | undefined
  const derived = () => (diagnostics ??= exportDiagnostics(deps, sessionId, cap))
  function* messages() {
    let after: MessagePosition | undefined
    do {
      const read = deps.sessions.messagePage(sessionId, after, page)
      for (const message of read.messages) yield exportMessage(message, content)
      after = read.next
    } while (after)
  }
  return jsonText(
    {
      ...exportHead(deps, session, content),
      messages: new Streamed(messages()),
      diagnostics: new Deferred(() => {
        const lists = Object.entries(derived().diagnostics)
        return new Members(lists.map(([key, value]) => [key, Array.isArray(value) ? new Streamed(value) : value]))
      }),
      incidents: new Deferred(() => new Streamed(derived().incidents)),
    },
    options.indent ?? 0,
  )
}

/** Bytes gathered before each write of the streamed export: few writes, none of them large. */
const EXPORT_WRITE_BYTES = 64 * 1024

/**
 * Writes the pieces of `sessionExportText` to `write` in batches of about 64 kB, awaiting each
 * write (the destination's backpressure). Stops pulling as soon as `stopped()` says so: the rest
 * of the session is never read.
 * @returns whether the whole document was written.
 */
export async function writeExportText(
  text: Iterator<string, void, undefined>,
  write: (chunk: string) => Promise<unknown>,
  stopped: () => boolean = () => false,
): Promise<boolean> {
  let batch = ""
  try {
    for (let piece = text.next(); ; piece = text.next()) {
      if (!piece.done) batch += piece.value
      if (batch.length >= EXPORT_WRITE_BYTES || (piece.done && batch)) {
        await write(batch)
        batch = ""
      }
      if (piece.done) return true
      if (stopped()) return false
    }
  } finally {
    // Ends the reading where it stopped (a generator's `finally` blocks run).
    text.return?.()
  }
}

function exportHead(deps: ExportDeps, session: SessionInfo, content: ExportContent) {
  return {
    schema: EXPORT_SCHEMA,
    version: SUPPORTED_EXPORT_VERSION,
    exportedAt: Date.now(),
    writer: WRITER,
    session: {
      id: session.id,
      ...(content === "full" ? { title: session.title } : {}),
      directory: deps.redactor.digestPath(session.directoryKey),
    },
  } as const
}

/** The diagnostic records linked to the session's runs (each list capped) and the incident chains derived from all of them. */
function exportDiagnostics(
  deps: ExportDeps,
  sessionId: string,
  cap: number,
): Pick<SessionExport, "diagnostics" | "incidents"> {
  const { journal, redactor } = deps
  // Records stored by a build with this build's schemas were validated when written and are read
  // back as they are; anything else (another build's, or a boot that did not say) is validated.
  const trusted = journal.bootsWithFormat(recordFormat())
  const { runs, crashes, lifecycle, requestIds } = linkedRecords(deps, sessionId, trusted)

  // Then the session's own requests, the most recent that fit beside the linked ones: no chain
  // reaches a request except by id, so the rest are counted, never read.
  const linkedRows = journal.rowsByRecordId("request", [...requestIds])
  const linkedOwn = linkedRows.filter((row) => row.sessionId === sessionId).length
  const room = Math.max(0, cap - linkedRows.length)
  const own = journal.latestRows("request", sessionId, room + linkedOwn)
  const ownUnlinked = own.rows.filter(
    (row) => !requestIds.has((row.data as { requestId?: string } | undefined)?.requestId ?? ""),
  )
  const requests = uniqueBy(
    records(RequestContext, [...linkedRows, ...ownUnlinked.slice(Math.max(0, ownUnlinked.length - room))], trusted),
    (r) => r.requestId,
  ).sort((a, b) => a.seq - b.seq)
  const requestTotal = linkedRows.length + own.total - linkedOwn

  const renderer = rendererActions(journal, requests, lifecycle, trusted)
  const {
    runs: exportedRuns,
    lifecycle: exportedLifecycle,
    requests: exportedRequests,
  } = digested(redactor, runs, lifecycle, requests)

  // Incidents come from every record, before any list is capped: a capped list never hides an
  // incident (a reader re-checks a chain whose records were capped away from its own links).
  const incidents = deriveIncidentChains({
    runs: exportedRuns,
    lifecycle: exportedLifecycle,
    requests: exportedRequests,
    renderer,
    crashes,
  })

  const truncated: Record<string, { kept: number; dropped: number }> = {}
  /** At most `cap` records, in their original order: every linked one first (the most recent when even those exceed the cap), then the most recent of the rest. */
  const keep = <T>(name: string, list: T[], linked: (item: T) => boolean): T[] => {
    if (list.length <= cap) return list
    const linkedItems = list.filter(linked)
    const rest = list.filter((item) => !linked(item))
    const room = Math.max(0, cap - linkedItems.length)
    const chosen = new Set<T>([
      ...linkedItems.slice(Math.max(0, linkedItems.length - cap)),
      ...rest.slice(rest.length - room),
    ])
    const kept = list.filter((item) => chosen.has(item))
    truncated[name] = { kept: kept.length, dropped: list.length - kept.length }
    return kept
  }
  const incidentRuns = new Set(incidents.map((chain) => chain.runId))
  const keptRuns = keep("runs", exportedRuns, (run) => incidentRuns.has(run.runId))
  const keptLifecycle = keep("lifecycle", exportedLifecycle, (action) =>
    action.runIds.some((id) => incidentRuns.has(id)),
  )
  const keptRequests = keep("requests", exportedRequests, (request) => requestIds.has(request.requestId))
  if (requestTotal > keptRequests.length)
    truncated.requests = { kept: keptRequests.length, dropped: requestTotal - keptRequests.length }
  const keptRenderer = keep("renderer", renderer, () => true)
  const keptCrashes = keep("crashes", crashes, (crash) => incidentRuns.has(crash.runId))

  withRemoteChains(journal, incidents)
  return {
    diagnostics: {
      runs: keptRuns,
      lifecycle: keptLifecycle,
      requests: keptRequests,
      renderer: keptRenderer,
      crashes: keptCrashes,
      truncated,
      ...degradedOf(deps),
    },
    incidents,
  }
}

/**
 * The session's incident chains, exactly as its export holds them, without building the export:
 * no message, none of the session's own requests that no chain links to, no capping.
 * @returns undefined when the session does not exist.
 */
export function sessionIncidents(deps: ExportDeps, sessionId: string): IncidentChain[] | undefined {
  const { sessions, journal, redactor } = deps
  if (!sessions.getSession(sessionId)) return undefined
  const trusted = journal.bootsWithFormat(recordFormat())
  const { runs, crashes, lifecycle, requestIds } = linkedRecords(deps, sessionId, trusted)
  // A chain reaches a request and a renderer action only by id: the linked ones are all it can use.
  const requests = uniqueBy(
    records(RequestContext, journal.rowsByRecordId("request", [...requestIds]), trusted),
    (r) => r.requestId,
  ).sort((a, b) => a.seq - b.seq)
  const renderer = rendererActions(journal, requests, lifecycle, trusted)
  const exported = digested(redactor, runs, lifecycle, requests)
  const incidents = deriveIncidentChains({ ...exported, renderer, crashes })
  withRemoteChains(journal, incidents)
  return incidents
}

/** The run summaries and crash evidence of the session, the lifecycle actions that touched them (and their ancestors), and the ids of every request those name. */
function linkedRecords(
  deps: ExportDeps,
  sessionId: string,
  trusted: Set<string>,
): { runs: RunSummary[]; crashes: CrashEvidence[]; lifecycle: LifecycleAction[]; requestIds: Set<string> } {
  const { sessions, journal } = deps
  const runs = records(
    RunSummary,
    sessions.runSummaries(sessionId).map((run) => ({ bootId: run.bootId, data: run.summary })),
    trusted,
  )

  // Crash evidence and journal facts of this session's runs.
  const crashes = records(CrashEvidence, journal.rows({ kinds: ["crash.detected"], sessionId }), trusted)

  // Lifecycle actions that touched these runs, and their ancestors.
  const wanted = new Set<string>()
  for (const run of runs) {
    const lc = run.interrupt?.lifecycle
    if (lc) {
      wanted.add(lc.lifecycleId)
      wanted.add(lc.rootId)
      if (lc.parentId) wanted.add(lc.parentId)
    }
    for (const also of run.alsoRequestedBy) if (also.lifecycleId) wanted.add(also.lifecycleId)
  }
  for (const crash of crashes) {
    if (crash.abortRequested) wanted.add(crash.abortRequested.lifecycleId)
    if (crash.possibleCause) wanted.add(crash.possibleCause.lifecycleId)
  }
  const lifecycle = lifecycleRecords(journal, wanted, trusted)

  // Requests: every initiating request the actions and cancels name, then this session's own.
  const requestIds = new Set<string>()
  for (const action of lifecycle) {
    const origin = action.origin as { request?: { requestId: string }; detectedDuring?: { requestId: string } }
    if (origin.request) requestIds.add(origin.request.requestId)
    if (origin.detectedDuring) requestIds.add(origin.detectedDuring.requestId)
  }
  for (const run of runs) if (run.interrupt?.request) requestIds.add(run.interrupt.request.requestId)
  return { runs, crashes, lifecycle, requestIds }
}

/** Renderer actions named by the requests or by the actions' origins, each in its final state. */
function rendererActions(
  journal: Journal,
  requests: RequestContext[],
  lifecycle: LifecycleAction[],
  trusted: Set<string>,
): ClientAction[] {
  const actionIds = new Set<string>()
  for (const request of requests) if (request.actionId) actionIds.add(request.actionId)
  for (const action of lifecycle) {
    const request = (action.origin as { request?: { actionId?: string } }).request
    if (request?.actionId) actionIds.add(request.actionId)
  }
  return finalActions(records(ClientAction, journal.rowsByRecordId("renderer", [...actionIds]), trusted))
}

/** The records with their directory keys as salted digests. Records share a handful of keys: each is digested once (an HMAC per record dominated large exports). */
function digested(redactor: Redactor, runs: RunSummary[], lifecycle: LifecycleAction[], requests: RequestContext[]) {
  const digests = new Map<string, string>()
  const digestOnce = (key: string) => {
    let digest = digests.get(key)
    if (digest === undefined) digests.set(key, (digest = redactor.digest(key)))
    return digest
  }
  const digestKey = (key: string | undefined) => (key ? digestOnce(key) : undefined)
  return {
    runs: runs.map((run) => ({ ...run, ...(run.directoryKey ? { directoryKey: digestKey(run.directoryKey) } : {}) })),
    lifecycle: lifecycle.map((action) => ({ ...action, directoryKeys: action.directoryKeys.map(digestOnce) })),
    requests: requests.map((request) => ({
      ...request,
      ...(request.directoryKey ? { directoryKey: digestKey(request.directoryKey) } : {}),
    })),
  }
}

/**
 * A forwarded run's remote chain rides beside the local one, labelled as the remote's word. It is
 * read as it was received, through the remote allow-list again: an older build stored it verbatim.
 */
function withRemoteChains(journal: Journal, incidents: IncidentChain[]): void {
  const remoteRuns = incidents
    .filter((chain) => chain.classification === "remote_interrupted")
    .map((chain) => chain.runId)
  if (remoteRuns.length === 0) return
  const chains = new Map(
    journal
      .rows({ kinds: ["remote.chain"], runIds: remoteRuns })
      .map((row) => [row.runId, remoteChain((row.data as { chain?: unknown })?.chain)]),
  )
  for (const chain of incidents) {
    const remote = chains.get(chain.runId)
    if (remote) chain.remote = { source: "remote_reported", chain: remote }
  }
}

/** A message as the export holds it: in the bug-report form (`diagnostics`), structure without text. */
function exportMessage(
  message: { info: MessageInfo; parts: Part[] },
  content: ExportContent,
): SessionExportDocument["messages"][number] {
  if (content === "full") return message
  return {
    info: message.info,
    parts: message.parts.map((part) =>
      part.type === "text"
        ? { id: part.id, type: "text", length: part.text.length }
        : {
            id: part.id,
            sessionID: part.sessionID,
            messageID: part.messageID,
            type: "tool" as const,
            callID: part.callID,
            tool: part.tool,
            state: part.state,
          },
    ),
  }
}

function lifecycleRecords(journal: Journal, wanted: Set<string>, trusted: Set<string>): LifecycleAction[] {
  const out = new Map<string, LifecycleAction>()
  let frontier = [...wanted]
  for (let depth = 0; depth < 16 && frontier.length > 0; depth++) {
    // A finished record supersedes the started one: read started rows only for actions with no finished row.
    const finished = journal.rows({ kinds: ["lifecycle.finished"], lifecycleIds: frontier })
    const done = new Set(finished.map((row) => row.lifecycleId))
    const open = frontier.filter((id) => !done.has(id))
    const rows =
      open.length > 0 ? [...journal.rows({ kinds: ["lifecycle.started"], lifecycleIds: open }), ...finished] : finished
    frontier = []
    for (const row of rows) {
      const action = record(LifecycleAction, row, trusted)
      if (!action) continue
      // A finished record supersedes the started one.
      const had = out.get(action.lifecycleId)
      if (!had || row.kind === "lifecycle.finished") out.set(action.lifecycleId, action)
      if (action.parentId && !out.has(action.parentId) && !wanted.has(action.parentId)) {
        wanted.add(action.parentId)
        frontier.push(action.parentId)
      }
    }
  }
  return [...out.values()].sort((a, b) => a.seq - b.seq)
}

type RecordSchema<T> = { safeParse(value: unknown): { success: true; data: T } | { success: false } }
type StoredRecord = { bootId?: string | undefined; data: unknown }

/**
 * A stored record, or undefined when it is damaged: one written by a boot of this build's record
 * format (`trusted`) only has to be an object (a damaged JSON text reads as absent); any other
 * is parsed through its schema, and one that does not fit is left out.
 */
function record<T>(schema: RecordSchema<T>, stored: StoredRecord, trusted: Set<string>): T | undefined {
  const { bootId, data } = stored
  if (bootId !== undefined && trusted.has(bootId))
    return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as T) : undefined
  const parsed = schema.safeParse(data)
  return parsed.success ? parsed.data : undefined
}

function records<T>(schema: RecordSchema<T>, stored: StoredRecord[], trusted: Set<string>): T[] {
  const out: T[] = []
  for (const item of stored) {
    const value = record(schema, item, trusted)
    if (value !== undefined) out.push(value)
  }
  return out
}

/**
 * One record per renderer action, in its final state: the renderer uploads an action as
 * `pending` when the user takes it and again when it settles. The latest settled row wins (a
 * `pending` re-sent late does not undo it); an action that never settled keeps its latest row.
 * Listed where each action was first recorded. `rows` are in journal order.
 */
function finalActions(rows: ClientAction[]): ClientAction[] {
  const final = new Map<string, ClientAction>()
  for (const row of rows) {
    const had = final.get(row.actionId)
    if (!had || row.outcome !== "pending" || had.outcome === "pending") final.set(row.actionId, row)
  }
  return [...final.values()]
}

function uniqueBy<T>(list: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>()
  return list.filter((item) => {
    const k = key(item)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

function degradedOf(deps: ExportDeps): { degraded?: { faults: string[]; lostRecords: number; backlog: number } } {
  const health = deps.health?.()
  if (!health || (health.degraded.length === 0 && health.journal.lost === 0 && health.journal.backlog === 0)) return {}
  return {
    degraded: {
      faults: health.degraded.slice(0, 16),
      lostRecords: health.journal.lost,
      backlog: health.journal.backlog,
    },
  }
}

/** An array written one item at a time, as its items are pulled; each item is a plain value. */
class Streamed {
  constructor(readonly items: Iterable<unknown>) {}
}
/** A value computed only when the writer reaches it. */
class Deferred {
  constructor(readonly value: () => unknown) {}
}
/** An object whose members are written one at a time (some of them `Streamed`). */
class Members {
  constructor(readonly entries: [string, unknown][]) {}
}

/**
 * `JSON.stringify(value, null, indent)` in pieces: a plain value is one piece; an object with a
 * `Streamed`, `Deferred` or `Members` inside is written member by member, a `Streamed` item by item.
 */
function* jsonText(value: unknown, indent: number, depth = 0): Generator<string, void, undefined> {
  const newline = (at: number) => (indent ? `\n${" ".repeat(indent * at)}` : "")
  if (value instanceof Deferred) value = value.value()
  if (value instanceof Streamed) {
    // An item is a plain value: one JSON.stringify each, no descent.
    const open = newline(depth + 1)
    let first = true
    for (const item of value.items) {
      const text = JSON.stringify(item, null, indent)
      yield `${first ? "[" : ","}${open}${indent ? text.replaceAll("\n", open) : text}`
      first = false
    }
    yield first ? "[]" : `${newline(depth)}]`
    return
  }
  const entries =
    value instanceof Members
      ? value.entries
      : isPlainObject(value) && Object.values(value).some(isPiecewise)
        ? Object.entries(value)
        : undefined
  if (!entries) {
    // JSON never holds a raw newline inside a string: every newline here is indentation.
    const text = JSON.stringify(value, null, indent)
    yield indent && depth ? text.replaceAll("\n", newline(depth)) : text
    return
  }
  let first = true
  for (const [key, member] of entries) {
    if (member === undefined) continue
    yield `${first ? "{" : ","}${newline(depth + 1)}${JSON.stringify(key)}${indent ? ": " : ":"}`
    yield* jsonText(member, indent, depth + 1)
    first = false
  }
  yield first ? "{}" : `${newline(depth)}}`
}

const isPiecewise = (value: unknown) =>
  value instanceof Streamed || value instanceof Deferred || value instanceof Members
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
