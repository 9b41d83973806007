/**
 * The session export, version 2 (docs/protocol.md, "Export format"): the session, its messages, the diagnostic
 * records linked to its runs, and the incident chains derived from them. What leaves the
 * machine is built from allow-listed records only: directories become salted digests, and
 * `content: "diagnostics"` leaves out message text and the title.
 */
import { isAppPage, UNKNOWN_PAGE } from "../provenance/foreign-text.ts"
import { remoteChain } from "../provenance/remote-chain.ts"
import {
  deriveIncidentChains,
  IncidentDerivation,
  resendLinks,
  type ResendLinks,
  type ResendRecord,
} from "../provenance/incident-chain.ts"
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
import { closing, Deferred, inTurns, jsonText, Members, Stepped, Streamed, TURN, type Turn } from "./json-text.ts"
import { ExportScanStore } from "./export-scan-store.ts"
import type { MessagePosition, RunPosition, SessionInfo, SessionStore, StoredRunSummary } from "./session-store.ts"
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
 * The whole document, every record read at once: the reference implementation (the simple one)
 * that the streamed `sessionExportText` must equal byte for byte. The route and the CLI stream;
 * the trace export (`tracing/server-tracing.ts`) reads one run's chain and its records (`runTraceRecords`).
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

/**
 * The export's diagnostics and incidents alone, read as `buildSessionExport` reads them (the same
 * lists, caps and chains) without reading a message, everything at once: the reference a run's
 * trace records (`runTraceRecords`) are checked against.
 * @returns undefined when the session does not exist.
 */
export function buildSessionDiagnostics(
  deps: ExportDeps,
  sessionId: string,
  cap = EXPORT_LIST_CAP,
): (Pick<SessionExport, "diagnostics" | "incidents"> & { exportedAt: number }) | undefined {
  if (!deps.sessions.getSession(sessionId)) return undefined
  return { exportedAt: Date.now(), ...exportDiagnostics(deps, sessionId, cap) }
}

/** Runs read per page by the streamed export (its scan, runs list and incidents): a page's chains come from that page's records alone. Small pages keep fewer records alive across a young-generation collection, which holds the peak down: at 128 runs a page, one 100k-message export in four or so had its garbage promoted and peaked near 110 MB above baseline instead of 60 (bench/findings.md). */
const EXPORT_RUN_PAGE = 64

/** Messages read per page by the streamed export: a page of ordinary messages is a few hundred kB (a page of 200 000-character prompts would be about 50 MB: pages count messages, not bytes). */
export const EXPORT_MESSAGE_PAGE = 256

/** A session's messages as `SessionStore.messages` lists them, read `page` at a time, with a turn after each page. */
export function* messagesInTurns(
  sessions: SessionStore,
  sessionId: string,
  page = EXPORT_MESSAGE_PAGE,
): Generator<{ info: MessageInfo; parts: Part[] } | Turn, void, undefined> {
  let after: MessagePosition | undefined
  do {
    const read = sessions.messagePage(sessionId, after, page)
    yield* read.messages
    after = read.next
    yield TURN
  } while (after)
}

/**
 * The export as text, written as it is read: the same bytes as `JSON.stringify(buildSessionExport(…),
 * null, indent)`, produced in pieces. Messages are read a page at a time as the reader pulls, and
 * the diagnostics (bounded by the caps) once the messages are written; no piece is the whole
 * document. A reader that stops pulling stops the reading: no page is read after it. An empty
 * piece is a turn (`writeJsonText` gives the event loop one there); joined, the pieces are the text.
 * @returns undefined when the session does not exist.
 */
export function sessionExportText(
  deps: ExportDeps,
  sessionId: string,
  content: ExportContent = "full",
  options: { cap?: number; indent?: number; page?: number; runPage?: number } = {},
): Generator<string, void, undefined> | undefined {
  const session = deps.sessions.getSession(sessionId)
  if (!session) return undefined
  const cap = options.cap ?? EXPORT_LIST_CAP
  const page = options.page ?? EXPORT_MESSAGE_PAGE
  let store: ExportScanStore | undefined
  let scanned: SessionScan | undefined
  function* scan(): Generator<Turn, SessionScan, undefined> {
    return (scanned ??= yield* scanSession(
      deps,
      sessionId,
      options.runPage ?? EXPORT_RUN_PAGE,
      (store = ExportScanStore.open()),
    ))
  }
  function* messages() {
    for (const message of messagesInTurns(deps.sessions, sessionId, page))
      yield message === TURN ? message : exportMessage(message, content)
  }
  return closing(
    jsonText(
      {
        ...exportHead(deps, session, content),
        messages: new Streamed(messages()),
        diagnostics: new Stepped(function* (): Generator<Turn, Members, undefined> {
          return new Members(Object.entries(yield* streamedLists(deps, sessionId, cap, yield* scan())))
        }),
        incidents: new Stepped(function* (): Generator<Turn, Streamed, undefined> {
          return new Streamed(pagedIncidents(deps, sessionId, yield* scan()))
        }),
      },
      options.indent ?? 0,
    ),
    () => store?.close(),
  )
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

/**
 * The diagnostic records linked to the session's runs (each list capped) and the incident chains
 * derived from all of them, everything read at once: the reference the streamed export
 * (`scanSession`, `exportLists`, `pagedIncidents`) is checked against.
 */
function exportDiagnostics(
  deps: ExportDeps,
  sessionId: string,
  cap: number,
): Pick<SessionExport, "diagnostics" | "incidents"> {
  const read = diagnosticRecords(deps, sessionId, cap)
  // Incidents come from every record, before any list is capped: a capped list never hides an
  // incident (a reader re-checks a chain whose records were capped away from its own links).
  const incidents = deriveIncidentChains(read)
  withRemoteChains(deps.journal, incidents)
  const incidentRuns = new Set(incidents.map((chain) => chain.runId))
  return { diagnostics: cappedLists(deps, read, cap, incidentRuns), incidents }
}

type DiagnosticRecords = ReturnType<typeof diagnosticRecords>

/** Every record the lists are chosen from (directories digested), and how many requests of the session there are in all. */
function diagnosticRecords(deps: ExportDeps, sessionId: string, cap: number) {
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

  const renderer = rendererActions(journal, requests, lifecycle, runs, trusted)
  return { ...digested(redactor, runs, lifecycle, requests), renderer, crashes, requestIds, requestTotal }
}

function cappedLists(
  deps: ExportDeps,
  read: DiagnosticRecords,
  cap: number,
  incidentRuns: Set<string>,
): SessionExport["diagnostics"] {
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
  // Linked first: whatever a reader needs to derive the chains again. A run with crash evidence
  // keeps its summary (without it, a reader takes the evidence for a crash the summary overrides),
  // and an action a chain names is kept even when it lists no run (a close killed before it
  // finished, named by a crash's abort_requested).
  const crashed = new Set(read.crashes.map((crash) => crash.runId))
  const named = namedLifecycleIds(
    read.runs.filter((run) => incidentRuns.has(run.runId)),
    read.crashes.filter((crash) => incidentRuns.has(crash.runId)),
  )
  const keptRuns = keep("runs", read.runs, (run) => incidentRuns.has(run.runId) || crashed.has(run.runId))
  const keptLifecycle = keep(
    "lifecycle",
    read.lifecycle,
    (action) => named.has(action.lifecycleId) || action.runIds.some((id) => incidentRuns.has(id)),
  )
  const keptRequests = keep("requests", read.requests, (request) => read.requestIds.has(request.requestId))
  if (read.requestTotal > keptRequests.length)
    truncated.requests = { kept: keptRequests.length, dropped: read.requestTotal - keptRequests.length }
  const keptRenderer = keep("renderer", read.renderer, () => true)
  const keptCrashes = keep("crashes", read.crashes, (crash) => incidentRuns.has(crash.runId))
  return {
    runs: keptRuns,
    lifecycle: keptLifecycle,
    requests: keptRequests,
    renderer: keptRenderer,
    crashes: keptCrashes,
    truncated,
    ...degradedOf(deps),
  }
}

/**
 * The session's incident chains, exactly as its export holds them, without building the export
 * (no message, none of the session's own requests that no chain links to, no capping), as text
 * written as it is read: `JSON.stringify` of the chains, a page of runs at a time, with a turn
 * after each (see `sessionExportText`).
 * @returns undefined when the session does not exist.
 */
export function sessionIncidentsText(
  deps: ExportDeps,
  sessionId: string,
): Generator<string, void, undefined> | undefined {
  if (!deps.sessions.getSession(sessionId)) return undefined
  let store: ExportScanStore | undefined
  return closing(
    jsonText(
      new Stepped(function* (): Generator<Turn, Streamed, undefined> {
        const scan = yield* scanSession(deps, sessionId, EXPORT_RUN_PAGE, (store = ExportScanStore.open()), false)
        return new Streamed(pagedIncidents(deps, sessionId, scan))
      }),
      0,
    ),
    () => store?.close(),
  )
}

/**
 * What the paged incidents need of the whole session, read a page of runs at a time: the crashes
 * (a handful) and resend links held here, and per run a byte; the rest (which runs have a chain,
 * the lifecycle actions, requests and renderer actions they reach) kept in an `ExportScanStore`,
 * outside the JavaScript heap, so the export's memory does not grow with the session.
 */
interface SessionScan {
  trusted: Set<string>
  crashes: CrashEvidence[]
  resends: ResendLinks
  /**
   * Of each summary the scan read, in order: its row, and whether it is damaged or its run has a
   * chain. Later passes list only these runs (`ScannedRuns`), so a run stored or finished meanwhile
   * is left out of every part alike.
   */
  runFlags: RunFlags
  /** How many summaries the scan read, and how many of them are of a run with a chain. */
  runCount: { all: number; linked: number }
  /** Which runs have a chain; the recorded lifecycle actions the runs and crashes reach (with ancestors); the requests and renderer actions named. */
  store: ExportScanStore
  /** The named requests' rows counted (as the reference counts them), the session's own among them; none when scanned without lists. */
  requestRows: { rows: number; ownRows: number }
  runPage: number
}

/**
 * `lists`: whether the capped lists will be written from this scan. Only they need the named
 * requests and renderer actions; the incidents alone (the incident route, a run's trace) need the
 * lifecycle actions, crashes and resend facts, so without lists those reads are skipped.
 * A turn after each page of runs.
 */
function* scanSession(
  deps: ExportDeps,
  sessionId: string,
  runPage: number,
  store: ExportScanStore,
  lists = true,
): Generator<Turn, SessionScan, undefined> {
  const { sessions, journal } = deps
  const trusted = journal.bootsWithFormat(recordFormat())
  const crashes = records(CrashEvidence, journal.crashRows(sessionId), trusted)
  const crashed = new Set(crashes.map((crash) => crash.runId))
  // Resend links need a run's classification only when it resent a run (or a crash's run did).
  const resendRuns = new Set(crashes.filter((crash) => crash.resendOf).map((crash) => crash.runId))
  const resent: ResendRecord[] = []
  const runCount = { all: 0, linked: 0 }
  /** Of each scanned summary in order: damaged, or whether its run has a chain (the runs list parses only the kept ones). */
  const runFlags = new RunFlags()
  const requestRows = { rows: 0, ownRows: 0 }
  /** The lifecycle actions, requests and renderer actions the runs and crashes reach, noted once each. */
  const noteLinked = (runs: RunSummary[], crashes: CrashEvidence[]) => {
    const lifecycle = lifecycleRecords(journal, namedLifecycleIds(runs, crashes), trusted)
    store.noteActions(lifecycle)
    if (!lists) return
    const newRequests = store.unnoted("request", namedRequestIds(runs, lifecycle))
    const actionIds = new Set<string>()
    for (const origin of originsOf(runs, lifecycle))
      if (origin.request?.actionId) actionIds.add(origin.request.actionId)
    // Each request id is read once: its rows counted (as the reference counts them), its first record kept as (id, seq).
    const rows = journal.rowsByRecordId("request", newRequests)
    requestRows.rows += rows.length
    for (const row of rows) if (row.sessionId === sessionId) requestRows.ownRows++
    const noted: [string, number][] = []
    const seen = new Set<string>()
    for (const request of records(RequestContext, rows, trusted)) {
      if (seen.has(request.requestId)) continue
      seen.add(request.requestId)
      noted.push([request.requestId, request.seq])
      if (request.actionId) actionIds.add(request.actionId)
    }
    // A named id with no valid record is linked all the same (-1), and never read again; a valid record comes first.
    for (const id of newRequests) noted.push([id, -1])
    store.noteRequests(noted, true)
    noteRenderer(journal, trusted, store, actionIds)
  }
  noteLinked([], crashes)
  yield TURN
  let after: RunPosition | undefined
  do {
    const read = sessions.runSummaryPage(sessionId, after, runPage)
    after = read.next
    const page: RunSummary[] = []
    const chains: [string, boolean][] = []
    for (const row of read.runs) {
      const summary = row.summary()
      if (!summary) continue
      const run = record(RunSummary, { bootId: row.bootId, data: summary }, trusted)
      if (!run) {
        runFlags.push(RUN_DAMAGED, row.rowid)
        continue
      }
      page.push(run)
      const { runId, startedAt, resendOf, classification } = run
      if (resendOf) resendRuns.add(runId)
      if (resendRuns.has(runId)) resent.push({ runId, startedAt, resendOf, classification })
      // Listed first: a run with a chain, and a run with crash evidence (its summary decides the
      // evidence's chain, so a reader needs it beside the evidence).
      runFlags.push(classification !== "completed" || crashed.has(runId) ? RUN_LINKED : RUN_UNLINKED, row.rowid)
      // A run is one row, so each is decided here once (the reference: the first summary of a run
      // decides); one that defers to its crash evidence has the chain the crash has, noted below.
      if (classification === "process_exit_without_finalizer" && crashed.has(runId)) continue
      chains.push([runId, classification !== "completed"])
    }
    store.noteRunChains(chains)
    noteLinked(page, [])
    // The actions the chains name are listed first, whatever runs they list.
    store.nameActions(
      namedLifecycleIds(
        page.filter((run) => run.classification !== "completed"),
        [],
      ),
    )
    yield TURN
  } while (after)
  // A crash's run has a chain, unless a summary of it decided otherwise.
  store.noteRunChains(crashes.map((crash) => [crash.runId, true]))
  store.nameActions(
    namedLifecycleIds(
      [],
      crashes.filter((crash) => store.hasChain(crash.runId)),
    ),
  )
  for (let at = 0; at < runFlags.length; at++) {
    const flag = runFlags.get(at)
    if (flag === RUN_DAMAGED) continue
    runCount.all++
    if (flag === RUN_LINKED) runCount.linked++
  }
  return {
    trusted,
    crashes,
    resends: resendLinks(resent, crashes),
    runFlags,
    runCount,
    store,
    requestRows,
    runPage,
  }
}

const RUN_DAMAGED = 0
const RUN_UNLINKED = 1
const RUN_LINKED = 2
type RunFlag = typeof RUN_DAMAGED | typeof RUN_UNLINKED | typeof RUN_LINKED

/** One flag per scanned summary, a byte each, and its row's rowid (nine bytes a run). */
class RunFlags {
  private bytes = new Uint8Array(1024)
  private rowids = new Float64Array(1024)
  length = 0
  push(flag: RunFlag, rowid: number): void {
    if (this.length === this.bytes.length) {
      const bytes = new Uint8Array(this.bytes.length * 2)
      bytes.set(this.bytes)
      this.bytes = bytes
      const rowids = new Float64Array(this.rowids.length * 2)
      rowids.set(this.rowids)
      this.rowids = rowids
    }
    this.rowids[this.length] = rowid
    this.bytes[this.length++] = flag
  }
  get(at: number): RunFlag | undefined {
    return at < this.length ? (this.bytes[at] as RunFlag) : undefined
  }
  rowid(at: number): number | undefined {
    return at < this.length ? this.rowids[at] : undefined
  }
  /** The flag of the run in row `rowid`, when the scan read its summary. */
  flagOfRow(rowid: number): RunFlag | undefined {
    const at = this.rowids.subarray(0, this.length).indexOf(rowid)
    return at < 0 ? undefined : this.get(at)
  }
}

/**
 * The runs the scan read, met again page by page in the same order by a later pass. Rows are
 * matched by rowid, never by position: rows can be stored between pages (the export gives the
 * event loop turns), and one stored behind the scan's cursor (with an earlier start) or one read
 * then without a summary is not the scan's, so it takes no scanned run's flag and is left out.
 * The scan's rows are in the same order as every later read of them (a run's start never
 * changes, and no run row is deleted), so each page's are found in one pass.
 */
class ScannedRuns {
  private at = 0
  constructor(private readonly scan: SessionScan) {}
  /** A page's rows that the scan read with a summary, each with its flag. */
  rows(stored: StoredRunSummary[]): [StoredRunSummary, RunFlag][] {
    const { runFlags } = this.scan
    const out: [StoredRunSummary, RunFlag][] = []
    for (const row of stored) if (runFlags.rowid(this.at) === row.rowid) out.push([row, runFlags.get(this.at++)!])
    return out
  }
  /** A page's summaries of the runs the scan read, as records (a damaged one left out). */
  runs(stored: StoredRunSummary[]): RunSummary[] {
    return summariesOf(
      this.rows(stored).map(([row]) => row),
      this.scan.trusted,
    )
  }
}

/** Stored summaries as records; a damaged one is left out. */
function summariesOf(stored: StoredRunSummary[], trusted: Set<string>): RunSummary[] {
  const out: RunSummary[] = []
  for (const entry of stored) {
    const run = record(RunSummary, { bootId: entry.bootId, data: entry.summary() }, trusted)
    if (run) out.push(run)
  }
  return out
}

/** Notes each renderer action not yet noted with its first valid row's journal seq (the list's order); reads only those. */
function noteRenderer(journal: Journal, trusted: Set<string>, store: ExportScanStore, actionIds: Set<string>) {
  const fresh = store.unnoted("renderer", actionIds)
  const noted: [string, number][] = []
  for (const row of journal.rowsByRecordId("renderer", fresh)) {
    const action = record(ClientAction, row, trusted)
    if (action) noted.push([action.actionId, row.seq])
  }
  // An id with no valid row is noted too (never listed), so it is not read again.
  for (const id of fresh) noted.push([id, -1])
  store.noteRenderer(noted)
}

/** Of `count` records, `linked` of them linked: which to keep, by each one's rank among the linked or among the rest (the reference's `keep`). */
function keepPlan(count: number, linked: number, cap: number) {
  const rest = count - linked
  const room = Math.max(0, cap - linked)
  return (isLinked: boolean, rank: number) => count <= cap || (isLinked ? rank >= linked - cap : rank >= rest - room)
}

/** Of `items` (`count` of them, `linked` linked), in order, those `keepPlan` keeps. */
function kept<T>(
  items: Iterable<T>,
  count: { all: number; linked: number },
  linked: (item: T) => boolean,
  cap: number,
) {
  const keeps = keepPlan(count.all, count.linked, cap)
  const ranks = { linked: 0, rest: 0 }
  const out: T[] = []
  for (const item of items) {
    const isLinked = linked(item)
    if (keeps(isLinked, isLinked ? ranks.linked++ : ranks.rest++)) out.push(item)
  }
  return out
}

/** The items `keepPlan` keeps, given each one's rank among the linked or among the rest, in order. */
function ranked<T>(items: readonly T[], linked: (item: T) => boolean, cap: number): T[] {
  return kept(items, { all: items.length, linked: items.filter(linked).length }, linked, cap)
}

/** Kept records read by id a chunk at a time, as the list is written: the lists never hold more than a chunk each. */
const EXPORT_LIST_CHUNK = 256

function* inChunks<T>(ids: readonly string[], read: (chunk: string[]) => T[]): Generator<T | Turn> {
  for (let at = 0; at < ids.length; at += EXPORT_LIST_CHUNK) {
    yield* read(ids.slice(at, at + EXPORT_LIST_CHUNK))
    yield TURN
  }
}

/**
 * The capped lists as the reference (`cappedLists`) chooses them, from the scan's facts: the runs
 * are read again a page at a time and written as they are read; of the other lists only the kept
 * records are read (at most `cap` each), a chunk at a time as each list is written. Choosing the
 * kept records reads up to `cap` of each kind first: a turn after each.
 */
function* streamedLists(
  deps: ExportDeps,
  sessionId: string,
  cap: number,
  scan: SessionScan,
): Generator<Turn, Record<string, unknown>, undefined> {
  const { journal, redactor, sessions } = deps
  const { trusted, store } = scan
  const counts: [name: string, count: number, kept: () => number][] = []

  const keepsRun = keepPlan(scan.runCount.all, scan.runCount.linked, cap)
  counts.push(["runs", scan.runCount.all, () => Math.min(scan.runCount.all, cap)])
  function* runs() {
    const ranks = { linked: 0, rest: 0 }
    const scanned = new ScannedRuns(scan)
    let after: RunPosition | undefined
    do {
      const read = sessions.runSummaryPage(sessionId, after, scan.runPage)
      after = read.next
      const kept: RunSummary[] = []
      for (const [row, flag] of scanned.rows(read.runs)) {
        if (flag === RUN_DAMAGED) continue
        const linked = flag === RUN_LINKED
        if (!keepsRun(linked, linked ? ranks.linked++ : ranks.rest++)) continue
        // Parsed only when kept; a summary damaged since the scan is left out.
        const run = record(RunSummary, { bootId: row.bootId, data: row.summary() }, trusted)
        if (run) kept.push(run)
      }
      yield* digested(redactor, kept, [], []).runs
      yield TURN
    } while (after)
  }

  // Lifecycle actions in record order; the kept ones read by id (no ancestors: those are in the set already).
  const actionCount = store.actionCount()
  const keptActions = kept(store.actionsInOrder(), actionCount, (action) => action.linked, cap).map(
    (action) => action.lifecycleId,
  )
  counts.push(["lifecycle", actionCount.all, () => keptActions.length])
  yield TURN
  const lifecycle = inChunks(
    keptActions,
    (chunk) => digested(redactor, [], lifecycleRecords(journal, new Set(chunk), trusted, 1), []).lifecycle,
  )

  // Requests: the linked ones (id, seq), then the session's own most recent that fit beside them.
  const { rows: linkedRows, ownRows: linkedOwn } = scan.requestRows
  const room = Math.max(0, cap - linkedRows)
  const own = journal.latestRows("request", sessionId, room > 0 ? room + linkedOwn : 0)
  const ownId = (row: { data: unknown }) => (row.data as { requestId?: string } | undefined)?.requestId ?? ""
  const unlinked = new Set(store.unnoted("request", own.rows.map(ownId)))
  const ownUnlinked = own.rows.filter((row) => unlinked.has(ownId(row)))
  const ownKept = records(RequestContext, ownUnlinked.slice(Math.max(0, ownUnlinked.length - room)), trusted)
  yield TURN
  store.noteRequests(
    ownKept
      .filter((request) => typeof request.requestId === "string")
      .map((request) => [request.requestId, request.seq]),
    false,
  )
  const requestCount = store.requestCount()
  const keptRequestIds = kept(store.requestsInOrder(), requestCount, (request) => request.linked, cap).map(
    (request) => request.requestId,
  )
  let requestsWritten = 0
  const requests = inChunks(keptRequestIds, (chunk) => {
    const read = uniqueBy(
      records(RequestContext, journal.rowsByRecordId("request", chunk), trusted),
      (r) => r.requestId,
    ).sort((a, b) => a.seq - b.seq)
    requestsWritten += read.length
    return digested(redactor, [], [], read).requests
  })
  const requestTotal = linkedRows + own.total - linkedOwn
  counts.push(["requests", requestCount.all, () => requestsWritten])
  yield TURN

  // Renderer actions: each is linked, so the most recent by where each was first recorded.
  const ownActionIds = new Set<string>()
  for (const request of ownKept) if (request.actionId) ownActionIds.add(request.actionId)
  noteRenderer(journal, trusted, store, ownActionIds)
  yield TURN
  const rendererCount = store.rendererCount()
  const keptRenderer = kept(store.rendererInOrder(), { all: rendererCount, linked: rendererCount }, () => true, cap)
  counts.push(["renderer", rendererCount, () => keptRenderer.length])
  const renderer = inChunks(keptRenderer, (chunk) =>
    finalActions(records(ClientAction, journal.rowsByRecordId("renderer", chunk), trusted)),
  )

  const crashes = ranked(scan.crashes, (crash) => store.hasChain(crash.runId), cap)
  counts.push(["crashes", scan.crashes.length, () => crashes.length])

  // Written after the lists, when the requests read are counted: the reference's order of names.
  const truncated = () => {
    const out: Record<string, { kept: number; dropped: number }> = {}
    for (const [name, count, keptOf] of counts) {
      if (count > cap) out[name] = { kept: keptOf(), dropped: count - keptOf() }
      if (name === "requests" && requestTotal > requestsWritten)
        out.requests = { kept: requestsWritten, dropped: requestTotal - requestsWritten }
    }
    return out
  }
  return {
    runs: new Streamed(runs()),
    lifecycle: new Streamed(lifecycle),
    requests: new Streamed(requests),
    renderer: new Streamed(renderer),
    crashes: new Streamed(crashes),
    truncated: new Deferred(truncated),
    ...degradedOf(deps),
  }
}

/**
 * The session's incident chains a page of runs at a time, then the crashes': each page's from
 * that page's records alone (see `IncidentDerivation`), so no more than a page is held. A turn
 * after each page.
 */
function* pagedIncidents(deps: ExportDeps, sessionId: string, scan: SessionScan): Generator<IncidentChain | Turn> {
  const { sessions } = deps
  // Pages of the run table: a run is on one page only.
  const derivation = new IncidentDerivation(scan.crashes, scan.resends, undefined, true)
  const scanned = new ScannedRuns(scan)
  let after: RunPosition | undefined
  do {
    const read = sessions.runSummaryPage(sessionId, after, scan.runPage)
    after = read.next
    const runs = scanned.runs(read.runs)
    if (runs.length > 0) yield* pageChains(deps, scan, derivation, runs).chains
    yield TURN
  } while (after)
  yield* crashPageChains(deps, scan, derivation, scan.crashes).chains
}

/** A page's chains and the records they were derived from. */
function pageChains(deps: ExportDeps, scan: SessionScan, derivation: IncidentDerivation, runs: RunSummary[]) {
  // The actions the runs name, and every recorded action listing a run that may need a possible
  // cause (one a lifecycle close does not attribute), looked up by run in the scan's store.
  const wanted = namedLifecycleIds(runs, [])
  const unattributed = new Set(
    runs
      .filter(
        (run) =>
          run.classification !== "completed" && !(run.interrupt?.kind === "lifecycle" && run.interrupt.lifecycle),
      )
      .map((run) => run.runId),
  )
  if (unattributed.size > 0) for (const id of scan.store.actionsListing(unattributed)) wanted.add(id)
  const records = chainRecords(deps, scan.trusted, runs, wanted)
  const chains = derivation.runChains(records)
  withRemoteChains(deps.journal, chains)
  return { chains, records }
}

/** The chains of the crashes no summary finalised (after every page of runs), and the records they were derived from. */
function crashPageChains(
  deps: ExportDeps,
  scan: SessionScan,
  derivation: IncidentDerivation,
  crashes: readonly CrashEvidence[],
) {
  const records = chainRecords(deps, scan.trusted, [], namedLifecycleIds([], crashes))
  const chains = derivation.crashChains(records)
  withRemoteChains(deps.journal, chains)
  return { chains, records }
}

/**
 * What one run's trace is built from: the run's incident chain exactly as the session's export
 * derives it (the same scan, the same paged derivation, on a page of that run alone), its summary
 * and crash evidence, and the records its chain reaches, directories digested. The session's run
 * summaries are read once, by the scan, its facts kept in a store as the streamed export keeps
 * them; no message is read and no list is built, so neither the time nor the memory is the whole
 * export's.
 * @returns undefined when the session does not exist.
 */
export async function runTraceRecords(deps: ExportDeps, sessionId: string, runId: string) {
  if (!deps.sessions.getSession(sessionId)) return undefined
  const store = ExportScanStore.open()
  try {
    const scan = await inTurns(scanSession(deps, sessionId, EXPORT_RUN_PAGE, store, false))
    const crashes = scan.crashes.filter((crash) => crash.runId === runId)
    const stored = deps.sessions.storedRunSummary(sessionId, runId)
    const derivation = new IncidentDerivation(crashes, scan.resends, undefined, true)
    const read = stored && scan.runFlags.flagOfRow(stored.rowid) !== undefined ? [stored] : []
    const page = pageChains(deps, scan, derivation, summariesOf(read, scan.trusted))
    const crashed = crashPageChains(deps, scan, derivation, crashes)
    return {
      exportedAt: Date.now(),
      chains: [...page.chains, ...crashed.chains],
      runs: page.records.runs,
      crashes,
      lifecycle: [...page.records.lifecycle, ...crashed.records.lifecycle],
      requests: [...page.records.requests, ...crashed.records.requests],
      renderer: [...page.records.renderer, ...crashed.records.renderer],
    }
  } finally {
    store.close()
  }
}

/** The records a page of chains reaches from `runs` and the lifecycle actions `wanted`: the actions with their ancestors, the requests and renderer actions they name; directories digested. */
function chainRecords(deps: ExportDeps, trusted: Set<string>, runs: RunSummary[], wanted: Set<string>) {
  const { journal, redactor } = deps
  const lifecycle = lifecycleRecords(journal, wanted, trusted)
  const requestIds = namedRequestIds(runs, lifecycle)
  const requests = uniqueBy(
    records(RequestContext, journal.rowsByRecordId("request", [...requestIds]), trusted),
    (r) => r.requestId,
  ).sort((a, b) => a.seq - b.seq)
  const renderer = rendererActions(journal, requests, lifecycle, runs, trusted)
  return { ...digested(redactor, runs, lifecycle, requests), renderer }
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
  const crashes = records(CrashEvidence, journal.crashRows(sessionId), trusted)
  // Lifecycle actions that touched these runs, and their ancestors.
  const lifecycle = lifecycleRecords(journal, namedLifecycleIds(runs, crashes), trusted)
  return { runs, crashes, lifecycle, requestIds: namedRequestIds(runs, lifecycle) }
}

/** The lifecycle actions the runs and crashes name. */
function namedLifecycleIds(runs: readonly RunSummary[], crashes: readonly CrashEvidence[]): Set<string> {
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
  return wanted
}

type OriginRefs = {
  request?: { requestId: string; actionId?: string }
  detectedDuring?: { requestId: string; actionId?: string }
}

/** Every origin the runs and actions hold: the actions', and the runs' own (a cancel's request, an embedded action's, a local stop's). */
function* originsOf(runs: readonly RunSummary[], lifecycle: readonly LifecycleAction[]): Generator<OriginRefs> {
  for (const action of lifecycle) yield action.origin as OriginRefs
  for (const run of runs) {
    const meta = run.interrupt
    if (!meta) continue
    if (meta.request) yield { request: meta.request }
    if (meta.lifecycle) yield meta.lifecycle.origin as OriginRefs
    if (meta.localStop) yield meta.localStop as OriginRefs
  }
}

/** The ids of every request an origin of the runs or actions names: all a chain can reach a request by. */
function namedRequestIds(runs: readonly RunSummary[], lifecycle: readonly LifecycleAction[]): Set<string> {
  const requestIds = new Set<string>()
  for (const origin of originsOf(runs, lifecycle)) {
    if (origin.request) requestIds.add(origin.request.requestId)
    if (origin.detectedDuring) requestIds.add(origin.detectedDuring.requestId)
  }
  return requestIds
}

/** Renderer actions named by the requests or by the origins of the runs and actions, each in its final state. */
function rendererActions(
  journal: Journal,
  requests: RequestContext[],
  lifecycle: LifecycleAction[],
  runs: RunSummary[],
  trusted: Set<string>,
): ClientAction[] {
  const actionIds = new Set<string>()
  for (const request of requests) if (request.actionId) actionIds.add(request.actionId)
  for (const origin of originsOf(runs, lifecycle)) if (origin.request?.actionId) actionIds.add(origin.request.actionId)
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

/** The actions `wanted` and their ancestors, `generations` deep (1: the actions alone), each the finished record when there is one. */
function lifecycleRecords(
  journal: Journal,
  wanted: Set<string>,
  trusted: Set<string>,
  generations = 16,
): LifecycleAction[] {
  const out = new Map<string, LifecycleAction>()
  let frontier = [...wanted]
  for (let depth = 0; depth < generations && frontier.length > 0; depth++) {
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
  // A page an earlier build stored as it was uploaded is exported as the app's template, or `/unknown`.
  return [...final.values()].map((action) => (isAppPage(action.page) ? action : { ...action, page: UNKNOWN_PAGE }))
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
