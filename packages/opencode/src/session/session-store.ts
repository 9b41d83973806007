/**
 * Sessions, messages with parts, and runs, in opencode's shapes (docs/api-shapes.md).
 * Message text lives here only; diagnostics never copy it.
 */
import { newId } from "../id.ts"
import type { Classification, RunSummary } from "../provenance/schemas.ts"
import type { MessageInfo, Part, Session } from "../provenance/wire.ts"
import type { Statement } from "better-sqlite3"
import { cutText } from "../provenance/plain-text.ts"
import { parseStoredJson, preparedOnce, type DB } from "../storage/database.ts"
import { searchKey } from "../storage/search-key.ts"

const SESSION_VERSION = "0.1.0"

/** A session as stored: the wire's session without its last run, and the key of its directory (never on the wire). */
export type SessionInfo = Omit<Session, "lastRun"> & { directoryKey: string }

export type { MessageInfo, Part }

export interface RunRecord {
  runId: string
  sessionId: string
  directoryKey: string
  instanceId: string
  generation: number
  model: string
  bootId: string
  startedAt: number
  finishedAt?: number
  heartbeatAt?: number
  status: "running" | "finished"
  summary?: RunSummary
  /** The boot that wrote the summary (absent for summaries stored before it was recorded). */
  summaryBootId?: string
  /** The stopped run this one was sent again for. */
  resendOf?: string
}

/** A session as the API answers it (`GET /session`, `GET /session/:id`): no directory key, with its last run. */
type PublicSession = Session

interface SessionPageQuery {
  /** Rows in the page (the route bounds it). */
  limit: number
  /** Only sessions after this one in the listing order: a session id, or a time (updated strictly before it). */
  before?: string | number
  /** Only sessions updated at or after this time (opencode's `start`). */
  start?: number
  /** Only sessions whose title contains this text, compared as search keys (`storage/search-key.ts`). */
  search?: string
}

/** A page row (raw): id, project_id, directory, title, created, updated, last run id, its finished_at, its classification. */
type PageRow = [string, string, string, string, number, number, string | null, number | null, string | null]

interface SessionRow {
  id: string
  directory: string
  directory_key: string
  project_id: string
  title: string
  created: number
  updated: number
}
/** A row of `messages`' statement (raw): the message's columns, then one part's (all null for a message with no part). */
type MessageRow = [
  id: string,
  role: "user" | "assistant",
  created: number,
  completed: number | null,
  runId: string | null,
  providerId: string | null,
  modelId: string | null,
  partId: string | null,
  type: "text" | "tool" | null,
  text: string | null,
  data: string | null,
]

interface RunRow {
  id: string
  session_id: string
  directory_key: string
  instance_id: string
  generation: number
  model: string
  boot_id: string
  started_at: number
  finished_at: number | null
  heartbeat_at: number | null
  summary: string | null
  summary_boot: string | null
  resend_of: string | null
}

/** A title taken from a prompt is at most this many characters, as a person counts them. */
const TITLE_FROM_PROMPT_MAX = 60
/** The title of a session created without one, until its first prompt names it (the list shows its time beside it). */
const DEFAULT_SESSION_TITLE = "New session"

export class SessionStore {
  private readonly stmt: ReturnType<typeof preparedOnce>

  /** `bootId`: the boot writing through this store, recorded with each run summary it writes. */
  constructor(
    private readonly db: DB,
    private readonly bootId?: string,
  ) {
    this.stmt = preparedOnce(db)
  }

  createSession(input: {
    directory: string
    directoryKey: string
    projectID: string
    title?: string | undefined
  }): SessionInfo {
    const now = Date.now()
    const id = newId("ses")
    const given = input.title?.trim()
    const title = given || DEFAULT_SESSION_TITLE
    this.stmt(
      "INSERT INTO session (id, directory, directory_key, project_id, title, title_key, title_default, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(id, input.directory, input.directoryKey, input.projectID, title, searchKey(title), given ? 0 : 1, now, now)
    return this.getSession(id)!
  }

  /** Records a session that lives on a remote workspace, so its forwarded runs have a local home. */
  ensureRemoteSession(input: { id: string; directory: string; directoryKey: string; title: string }): SessionInfo {
    const now = Date.now()
    this.stmt(
      "INSERT OR IGNORE INTO session (id, directory, directory_key, project_id, title, title_key, created, updated) VALUES (?, ?, ?, 'remote', ?, ?, ?, ?)",
    ).run(input.id, input.directory, input.directoryKey, input.title, searchKey(input.title), now, now)
    return this.getSession(input.id)!
  }

  getSession(id: string): SessionInfo | undefined {
    const row = this.stmt("SELECT * FROM session WHERE id = ?").get(id) as SessionRow | undefined
    return row && toSession(row)
  }

  /**
   * One page of a directory's sessions in the public shape (`GET /session`), newest update
   * first (ties: the later created first), each with its last run, in one statement: the last run
   * comes from the run index and its classification is read out of the summary by SQLite, so a row
   * costs no query and no summary parse in JavaScript. `next` is the cursor of the page after this
   * one (the last row's id), absent on the last page. Undefined when `before` names no session.
   */
  listSessionPage(
    directoryKey: string,
    query: SessionPageQuery,
  ): { sessions: PublicSession[]; next?: string } | undefined {
    const params: unknown[] = [directoryKey]
    let variant = 0
    if (query.before !== undefined) {
      // (updated, rowid) below the cursor's: a time cursor takes every session updated strictly before it.
      const at =
        typeof query.before === "number"
          ? { updated: query.before, rid: Number.MIN_SAFE_INTEGER }
          : this.cursorOf(query.before)
      if (!at) return undefined
      variant |= 1
      params.push(at.updated, at.rid)
    }
    if (query.start !== undefined) {
      variant |= 2
      params.push(query.start)
    }
    if (query.search) {
      variant |= 4
      params.push(searchKey(query.search))
    }
    params.push(query.limit + 1)
    // Rows as arrays (raw): no object per row that is thrown away at once.
    const rows = this.pageStatement(variant).all(...params) as PageRow[]
    const more = rows.length > query.limit
    if (more) rows.length = query.limit
    const sessions = rows.map(toPublicSession)
    return more && sessions.length > 0 ? { sessions, next: sessions[sessions.length - 1]!.id } : { sessions }
  }

  private readonly pageStatements: (Statement<unknown[]> | undefined)[] = []
  /** `messages`' statement, prepared once (raw rows). */
  private messagesStatement: Statement<[string]> | undefined

  /** The page query for one combination of filters (bit 1: before, 2: start, 4: search), prepared once. */
  private pageStatement(variant: number): Statement<unknown[]> {
    let statement = this.pageStatements[variant]
    if (statement) return statement
    const where = ["s.directory_key = ?"]
    if (variant & 1) where.push("(s.updated, s.rowid) < (?, ?)")
    if (variant & 2) where.push("s.updated >= ?")
    // opencode's search: the title contains the text, compared as search keys (case folded in
    // every script, NFKC), read from the listing's index; instr takes % and _ literally.
    if (variant & 4) where.push("instr(s.title_key, ?) > 0")
    statement = this.db
      .prepare<unknown[]>(
        `SELECT s.id, s.project_id, s.directory, s.title, s.created, s.updated, r.id, r.finished_at,
           CASE WHEN r.summary IS NOT NULL AND json_valid(r.summary) THEN r.summary ->> '$.classification' END
         FROM session s
         LEFT JOIN run r ON r.rowid = (SELECT rowid FROM run WHERE session_id = s.id ORDER BY started_at DESC LIMIT 1)
         WHERE ${where.join(" AND ")}
         ORDER BY s.updated DESC, s.rowid DESC LIMIT ?`,
      )
      .raw(true)
    this.pageStatements[variant] = statement
    return statement
  }

  /** Where a session-id cursor stands in the listing order; undefined for an unknown id. */
  private cursorOf(id: string): { updated: number; rid: number } | undefined {
    return this.stmt("SELECT updated, rowid AS rid FROM session WHERE id = ?").get(id) as
      { updated: number; rid: number } | undefined
  }

  /**
   * Names a session that still has the title it was created with by default after its first
   * prompt: the prompt's first line, spaces collapsed, cut to 60 characters as a person counts
   * them, never inside a grapheme cluster (opencode names a session from its first message).
   * Answers the renamed session, or undefined when the session already had a title of its own.
   */
  titleFromPrompt(id: string, text: string): SessionInfo | undefined {
    const line = text
      .split("\n")
      .map((part) => part.replace(/\s+/g, " ").trim())
      .find(Boolean)
    if (!line) return undefined
    const title = cutText(line, TITLE_FROM_PROMPT_MAX)
    const changed = this.stmt(
      "UPDATE session SET title = ?, title_key = ?, title_default = 0 WHERE id = ? AND title_default = 1",
    ).run(title, searchKey(title), id)
    return changed.changes > 0 ? this.getSession(id) : undefined
  }

  touchSession(id: string): void {
    this.stmt("UPDATE session SET updated = ? WHERE id = ?").run(Date.now(), id)
  }

  createMessage(info: Omit<MessageInfo, "id" | "time">): MessageInfo {
    const message: MessageInfo = { ...info, id: newId("msg"), time: { created: Date.now() } }
    this.insertMessage(message)
    return message
  }

  /** Inserts a message built by the caller (the processor builds it first, so a failed write can be retried). */
  insertMessage(message: MessageInfo): void {
    this.stmt(
      "INSERT OR IGNORE INTO message (id, session_id, role, created, run_id, provider_id, model_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ).run(
      message.id,
      message.sessionID,
      message.role,
      message.time.created,
      message.runId ?? null,
      message.providerID ?? null,
      message.modelID ?? null,
    )
  }

  completeMessage(message: MessageInfo, completed = Date.now()): MessageInfo {
    this.stmt("UPDATE message SET completed = ? WHERE id = ?").run(completed, message.id)
    return { ...message, time: { ...message.time, completed } }
  }

  /** Inserts or replaces a part (text parts are re-saved as they grow). */
  savePart(part: Part, ord: number, at = Date.now()): void {
    const data =
      part.type === "tool"
        ? JSON.stringify({
            callID: part.callID,
            tool: part.tool,
            state: part.state,
            ...(part.path ? { path: part.path } : {}),
          })
        : null
    this.stmt(
      "INSERT INTO part (id, message_id, session_id, ord, type, text, data, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET text = excluded.text, data = excluded.data, updated = excluded.updated",
    ).run(part.id, part.messageID, part.sessionID, ord, part.type, part.type === "text" ? part.text : null, data, at)
  }

  /**
   * When each run's text output (its answer, never its prompt) was last stored, for runs that
   * stored any: the crash scan's evidence of how far a lost run got after its last heartbeat.
   */
  lastOutputTimes(runIds: readonly string[]): Map<string, number> {
    const out = new Map<string, number>()
    if (runIds.length === 0) return out
    // One grouped statement through the message's run index: a statement per run was about a
    // quarter of a scan that found 10 000 runs unfinished (bench/).
    const rows = this.stmt(
      `SELECT message.run_id AS runId, MAX(part.updated) AS at FROM message JOIN part ON part.message_id = message.id
       WHERE message.run_id IN (SELECT value FROM json_each(?)) AND message.role = 'assistant' AND part.type = 'text' AND part.text != ''
       GROUP BY message.run_id`,
    ).all(JSON.stringify(runIds)) as { runId: string; at: number | null }[]
    for (const row of rows) if (row.at) out.set(row.runId, row.at)
    return out
  }

  /**
   * A session's messages in order, each with its parts in order. One statement: the messages
   * through the session's index, each one's parts through the message's index (never a scan of
   * every part stored), read as raw rows already grouped by message.
   */
  messages(sessionId: string): { info: MessageInfo; parts: Part[] }[] {
    this.messagesStatement ??= this.db
      .prepare<[string]>(
        `SELECT ${MESSAGE_PART_COLUMNS}
         FROM message m LEFT JOIN part p ON p.message_id = m.id AND p.session_id = m.session_id
         WHERE m.session_id = ? ORDER BY m.created, m.rowid, p.ord`,
      )
      .raw(true)
    return groupMessageRows(sessionId, this.messagesStatement.all(sessionId) as MessageRow[])
  }

  /**
   * At most `limit` of a session's messages, in the order of `messages`, after the position
   * `after` (a previous page's `next`; none for the first page). A page is one statement that
   * holds no cursor open between pages, so a reader that pauses (a slow client) leaves the
   * connection free for the server's writes.
   */
  messagePage(
    sessionId: string,
    after: MessagePosition | undefined,
    limit: number,
  ): { messages: { info: MessageInfo; parts: Part[] }[]; next: MessagePosition | undefined } {
    return this.messageKeysetPage(sessionId, after, limit, "after")
  }

  /**
   * At most `limit` of a session's messages just before the position `before` (a previous page's
   * `next`; none for the newest), in the order of `messages`: pages from the newest back, for a
   * reader that needs the end of a long session. One statement per page, no cursor held.
   */
  messagePageBefore(
    sessionId: string,
    before: MessagePosition | undefined,
    limit: number,
  ): { messages: { info: MessageInfo; parts: Part[] }[]; next: MessagePosition | undefined } {
    return this.messageKeysetPage(sessionId, before, limit, "before")
  }

  /**
   * A page of a session's messages on one `side` of the position `at` (none: from the oldest, or
   * from the newest), in the order of `messages`, and the position of the next page that way.
   */
  private messageKeysetPage(
    sessionId: string,
    at: MessagePosition | undefined,
    limit: number,
    side: "after" | "before",
  ): { messages: { info: MessageInfo; parts: Part[] }[]; next: MessagePosition | undefined } {
    const [beyond, order] = side === "after" ? [">", "ASC"] : ["<", "DESC"]
    const rows = this.stmt(
      `SELECT ${MESSAGE_PART_COLUMNS}, m.r
       FROM (SELECT rowid AS r, id, session_id, role, created, completed, run_id, provider_id, model_id FROM message
             WHERE session_id = @sessionId AND (created ${beyond} @created OR (created = @created AND rowid ${beyond} @rowid))
             ORDER BY created ${order}, rowid ${order} LIMIT @limit) m
       LEFT JOIN part p ON p.message_id = m.id AND p.session_id = m.session_id ORDER BY m.created, m.r, p.ord`,
    )
      .raw(true)
      .all({
        sessionId,
        created: at?.created ?? (side === "after" ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER),
        rowid: at?.rowid ?? (side === "after" ? 0 : Number.MAX_SAFE_INTEGER),
        limit,
      }) as [...MessageRow, number][]
    // The page's last message going forward, its first going back.
    const edge = side === "after" ? rows.at(-1) : rows[0]
    const messages = groupMessageRows(sessionId, rows as unknown as MessageRow[])
    return { messages, next: edge && messages.length === limit ? { created: edge[2], rowid: edge[11] } : undefined }
  }

  /** One run's messages, in the order of `messages`. */
  runMessages(sessionId: string, runId: string): { info: MessageInfo; parts: Part[] }[] {
    const rows = this.stmt(
      `SELECT ${MESSAGE_PART_COLUMNS}
       FROM message m LEFT JOIN part p ON p.message_id = m.id AND p.session_id = m.session_id
       WHERE m.run_id = ? AND m.session_id = ? ORDER BY m.created, m.rowid, p.ord`,
    )
      .raw(true)
      .all(runId, sessionId) as MessageRow[]
    return groupMessageRows(sessionId, rows)
  }

  insertRun(run: Omit<RunRecord, "status">): void {
    this.stmt(
      "INSERT INTO run (id, session_id, directory_key, instance_id, generation, model, boot_id, started_at, heartbeat_at, resend_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      run.runId,
      run.sessionId,
      run.directoryKey,
      run.instanceId,
      run.generation,
      run.model,
      run.bootId,
      run.startedAt,
      run.startedAt,
      run.resendOf ?? null,
    )
  }

  heartbeat(runIds: string[], at = Date.now()): void {
    const update = this.stmt("UPDATE run SET heartbeat_at = ? WHERE id = ? AND finished_at IS NULL")
    this.db.transaction(() => {
      for (const id of runIds) update.run(at, id)
    })()
  }

  finishRun(summary: RunSummary): void {
    this.stmt("UPDATE run SET finished_at = ?, summary = ?, summary_boot = ? WHERE id = ?").run(
      summary.finishedAt,
      JSON.stringify(summary),
      this.bootId ?? null,
      summary.runId,
    )
  }

  runs(sessionId: string): RunRecord[] {
    return (
      this.stmt("SELECT * FROM run WHERE session_id = ? ORDER BY started_at, rowid").all(sessionId) as RunRow[]
    ).map(toRun)
  }

  /** One run of a session; undefined when `runId` is not a run of `sessionId`. */
  run(sessionId: string, runId: string): RunRecord | undefined {
    const row = this.stmt("SELECT * FROM run WHERE id = ? AND session_id = ?").get(runId, sessionId) as
      RunRow | undefined
    return row ? toRun(row) : undefined
  }

  /** At most `limit` of a session's runs, in the order of `runs`, after the position `after` (a previous page's `next`). One statement per page, no cursor held. */
  runPage(
    sessionId: string,
    after: RunPosition | undefined,
    limit: number,
  ): { runs: RunRecord[]; next: RunPosition | undefined } {
    const { rows, next } = this.runRows<RunRow>("*", sessionId, after, limit)
    return { runs: rows.map(toRun), next }
  }

  /**
   * A session's stored run summaries in start order (the order of `runs`), each with its run's id
   * and the boot that wrote it; a run with no summary, or a damaged one (text that is not JSON),
   * is not listed. Reads only those columns: the export reads every summary of a session.
   */
  runSummaries(sessionId: string): { runId: string; summary: RunSummary; bootId?: string }[] {
    const rows = this.stmt(
      "SELECT id, summary, summary_boot FROM run WHERE session_id = ? ORDER BY started_at, rowid",
    ).all(sessionId) as SummaryRow[]
    return storedSummaries(rows)
  }

  /**
   * At most `limit` of a session's runs, in the order of `runSummaries`, after the position
   * `after` (a previous page's `next`), each with its summary parsed only when asked for (undefined
   * for a run with none or a damaged one): a reader that needs a few summaries of many runs parses
   * only those. One statement per page, no cursor held.
   */
  runSummaryPage(
    sessionId: string,
    after: RunPosition | undefined,
    limit: number,
  ): { runs: StoredRunSummary[]; next: RunPosition | undefined } {
    const { rows, next } = this.runRows<SummaryRow>("id, summary, summary_boot", sessionId, after, limit)
    return { runs: rows.map(storedRunSummary), next }
  }

  /** A page of a session's run rows (`columns` of each, and its rowid as `r`) in start order, after `after`. */
  private runRows<Row>(
    columns: string,
    sessionId: string,
    after: RunPosition | undefined,
    limit: number,
  ): { rows: (Row & { r: number })[]; next: RunPosition | undefined } {
    const rows = this.stmt(
      `SELECT ${columns}, started_at AS s, rowid AS r FROM run WHERE session_id = @sessionId
       AND (started_at > @startedAt OR (started_at = @startedAt AND rowid > @rowid)) ORDER BY started_at, rowid LIMIT @limit`,
    ).all({
      sessionId,
      startedAt: after?.startedAt ?? Number.MIN_SAFE_INTEGER,
      rowid: after?.rowid ?? 0,
      limit,
    }) as (Row & { s: number; r: number })[]
    const last = rows.at(-1)
    return { rows, next: last && rows.length === limit ? { startedAt: last.s, rowid: last.r } : undefined }
  }

  /** One run's summary as `runSummaryPage` gives it; undefined when `runId` is not a run of `sessionId`. */
  storedRunSummary(sessionId: string, runId: string): StoredRunSummary | undefined {
    const row = this.stmt("SELECT id, summary, summary_boot, rowid AS r FROM run WHERE id = ? AND session_id = ?").get(
      runId,
      sessionId,
    ) as (SummaryRow & { r: number }) | undefined
    return row && storedRunSummary(row)
  }

  unfinishedRuns(): RunRecord[] {
    return (this.stmt("SELECT * FROM run WHERE finished_at IS NULL").all() as RunRow[]).map(toRun)
  }

  /** Whether `runId` is a run of `sessionId`: one indexed row, no summary read. */
  hasRun(sessionId: string, runId: string): boolean {
    return this.stmt("SELECT 1 FROM run WHERE id = ? AND session_id = ?").get(runId, sessionId) !== undefined
  }

  lastRun(sessionId: string): RunRecord | undefined {
    const row = this.stmt("SELECT * FROM run WHERE session_id = ? ORDER BY started_at DESC LIMIT 1").get(sessionId) as
      RunRow | undefined
    return row && toRun(row)
  }
}

/** A message's columns and one of its parts', in the order `groupMessageRows` reads them. */
const MESSAGE_PART_COLUMNS =
  "m.id, m.role, m.created, m.completed, m.run_id, m.provider_id, m.model_id, p.id, p.type, p.text, p.data"

type SummaryRow = { id: string; summary: string | null; summary_boot: string | null }

/** A run row as `runSummaryPage` gives it: its summary parsed only when asked for. */
function storedRunSummary(row: SummaryRow & { r: number }): StoredRunSummary {
  return {
    runId: row.id,
    rowid: row.r,
    ...(row.summary_boot ? { bootId: row.summary_boot } : {}),
    summary: () => parseStoredJson(row.summary) as RunSummary | undefined,
  }
}

/** The rows' summaries with their runs' ids and boots; a run with no summary, or a damaged one (text that is not JSON), is not listed. */
function storedSummaries(rows: SummaryRow[]): { runId: string; summary: RunSummary; bootId?: string }[] {
  const out: { runId: string; summary: RunSummary; bootId?: string }[] = []
  for (const row of rows) {
    const summary = parseStoredJson(row.summary) as RunSummary | undefined
    if (!summary) continue
    out.push(row.summary_boot ? { runId: row.id, summary, bootId: row.summary_boot } : { runId: row.id, summary })
  }
  return out
}

/** A run of `runSummaryPage`: its id, row and summary's boot, and its summary parsed when asked for. */
export interface StoredRunSummary {
  runId: string
  rowid: number
  bootId?: string
  summary: () => RunSummary | undefined
}

/** Where a page of `runSummaryPage` ended: the last run's start time and row. */
export interface RunPosition {
  startedAt: number
  rowid: number
}

/** Where a page of `messagePage` ended: the last message's creation time and row. */
export interface MessagePosition {
  created: number
  rowid: number
}

/** Raw message rows (a message's columns, then one part's) grouped into messages with their parts, in row order. */
function groupMessageRows(sessionId: string, rows: MessageRow[]): { info: MessageInfo; parts: Part[] }[] {
  const out: { info: MessageInfo; parts: Part[] }[] = []
  let parts: Part[] = []
  let last: string | undefined
  for (const [id, role, created, completed, runId, providerId, modelId, partId, type, text, data] of rows) {
    if (id !== last) {
      const info: MessageInfo = {
        id,
        sessionID: sessionId,
        role,
        time: completed ? { created, completed } : { created },
      }
      if (runId) info.runId = runId
      if (providerId) info.providerID = providerId
      if (modelId) info.modelID = modelId
      parts = []
      out.push({ info, parts })
      last = id
    }
    if (partId === null) continue
    if (type === "text") parts.push({ id: partId, sessionID: sessionId, messageID: id, type: "text", text: text ?? "" })
    else
      parts.push({
        id: partId,
        sessionID: sessionId,
        messageID: id,
        type: "tool",
        ...(JSON.parse(data ?? "{}") as { callID: string; tool: string; state: { status: "running" } }),
      })
  }
  return out
}

function toSession(row: SessionRow): SessionInfo {
  return {
    id: row.id,
    projectID: row.project_id,
    directory: row.directory,
    directoryKey: row.directory_key,
    title: row.title,
    version: SESSION_VERSION,
    time: { created: row.created, updated: row.updated },
  }
}

function toPublicSession(row: PageRow): PublicSession {
  const [id, projectID, directory, title, created, updated, runId, runFinished, classification] = row
  const session: PublicSession = {
    id,
    projectID,
    directory,
    title,
    version: SESSION_VERSION,
    time: { created, updated },
  }
  if (runId !== null) {
    session.lastRun = { runId, status: runFinished ? "finished" : "running" }
    // Stored by this server from a run summary's classification.
    if (typeof classification === "string") session.lastRun.classification = classification as Classification
  }
  return session
}

function toRun(row: RunRow): RunRecord {
  const summary = parseStoredJson(row.summary) as RunSummary | undefined
  return {
    runId: row.id,
    sessionId: row.session_id,
    directoryKey: row.directory_key,
    instanceId: row.instance_id,
    generation: row.generation,
    model: row.model,
    bootId: row.boot_id,
    startedAt: row.started_at,
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
    ...(row.heartbeat_at ? { heartbeatAt: row.heartbeat_at } : {}),
    status: row.finished_at ? "finished" : "running",
    ...(summary ? { summary } : {}),
    ...(summary && row.summary_boot ? { summaryBootId: row.summary_boot } : {}),
    ...(row.resend_of ? { resendOf: row.resend_of } : {}),
  }
}

/** A session as the API shows it: with its last run's state. */
export function publicSession(info: SessionInfo, sessions: SessionStore): Session {
  const { directoryKey: _key, ...rest } = info
  const last = sessions.lastRun(info.id)
  return {
    ...rest,
    ...(last
      ? {
          lastRun: {
            runId: last.runId,
            status: last.status,
            ...(last.summary ? { classification: last.summary.classification } : {}),
          },
        }
      : {}),
  }
}
