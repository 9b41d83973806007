/**
 * The journal's reads: rows by kind and link, a session's newest rows, records by their own id,
 * the lifecycle actions that never finished, boots by record format. Every read sees what the
 * journal holds, written or still waiting in the writer's backlog (`Journal.pendingRows`); the
 * writer itself is `journal.ts`.
 */
import { type DB, parseStoredJson, preparedOnce } from "./database.ts"

/** What a journal row records; written by `journal.ts`, read here. */
export type JournalKind =
  | "run.started"
  | "run.visible_output"
  | "tool.started"
  | "tool.finished"
  | "run.finished"
  | "lifecycle.started"
  | "lifecycle.finished"
  | "abort_requested"
  | "request"
  | "renderer"
  | "crash.detected"
  /** A remote workspace's own chain for a forwarded run: remote evidence, never local. */
  | "remote.chain"

export interface JournalRow {
  seq: number
  time: number
  bootId: string
  kind: JournalKind
  runId?: string
  lifecycleId?: string
  sessionId?: string
  data: unknown
}

/** Which rows `rows` reads: of some kinds, optionally only those linked to a run, lifecycle action or session. */
export interface RowFilter {
  kinds?: JournalKind[]
  runIds?: string[]
  lifecycleIds?: string[]
  sessionId?: string
}

export class JournalQueries {
  /** Prepared once per distinct SQL text (the filters below produce a handful). */
  private readonly statement: ReturnType<typeof preparedOnce>

  /** `pending`: the backlog's rows that `match`, in order (none while everything is written). */
  constructor(
    db: DB,
    private readonly pending: (match: (row: JournalRow) => boolean) => JournalRow[],
  ) {
    this.statement = preparedOnce(db)
  }

  /** Rows of some kinds, optionally only those linked to a run, lifecycle action or session. */
  rows(filter: RowFilter = {}): JournalRow[] {
    const where: string[] = []
    const args: unknown[] = []
    const byId = !!(filter.runIds || filter.lifecycleIds || filter.sessionId)
    if (filter.kinds?.length) {
      // `+kind` keeps SQLite off the kind index when an id narrows the rows: reading a few runs'
      // rows must not scan every row of their kinds in a long history.
      where.push(`${byId ? "+kind" : "kind"} IN (${filter.kinds.map(() => "?").join(",")})`)
      args.push(...filter.kinds)
    }
    const ors: string[] = []
    if (filter.runIds) {
      ors.push(`run_id IN (SELECT value FROM json_each(?))`)
      args.push(JSON.stringify(filter.runIds))
    }
    if (filter.lifecycleIds) {
      ors.push(`lifecycle_id IN (SELECT value FROM json_each(?))`)
      args.push(JSON.stringify(filter.lifecycleIds))
    }
    if (filter.sessionId) {
      ors.push("session_id = ?")
      args.push(filter.sessionId)
    }
    if (ors.length) where.push(`(${ors.join(" OR ")})`)
    const sql = `SELECT ${COLUMNS} FROM journal ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq`
    const stored = (this.statement(sql).all(...args) as RawRow[]).map(toRow)
    return this.withPending(stored, (row) => {
      if (filter.kinds?.length && !filter.kinds.includes(row.kind)) return false
      if (!filter.runIds && !filter.lifecycleIds && !filter.sessionId) return true
      return (
        (!!row.runId && !!filter.runIds?.includes(row.runId)) ||
        (!!row.lifecycleId && !!filter.lifecycleIds?.includes(row.lifecycleId)) ||
        (!!row.sessionId && row.sessionId === filter.sessionId)
      )
    })
  }

  /**
   * A session's crash evidence (`crash.detected` rows, in seq order), through the kind index:
   * crash rows are few in any journal, while a session's rows grow with its history (through the
   * session index, finding none in a session of 50,000 records took tens of milliseconds).
   */
  crashRows(sessionId: string): JournalRow[] {
    const stored = this.statement(
      `SELECT ${COLUMNS} FROM journal INDEXED BY journal_kind WHERE kind = 'crash.detected' AND session_id = ? ORDER BY seq`,
    ).all(sessionId) as RawRow[]
    return this.withPending(stored.map(toRow), (row) => row.kind === "crash.detected" && row.sessionId === sessionId)
  }

  /** `lifecycle.started` rows of actions that never finished (found through the lifecycle index, not by reading every action). */
  unfinishedLifecycleRows(): JournalRow[] {
    const stored = this.statement(UNFINISHED_LIFECYCLE).all() as RawRow[]
    const pending = this.pending((row) => row.kind === "lifecycle.started" || row.kind === "lifecycle.finished")
    if (pending.length === 0) return stored.map(toRow)
    const finished = new Set(pending.filter((row) => row.kind === "lifecycle.finished").map((row) => row.lifecycleId))
    return [...stored.map(toRow), ...pending.filter((row) => row.kind === "lifecycle.started")].filter(
      (row) => !finished.has(row.lifecycleId),
    )
  }

  /**
   * The newest `limit` rows of `kind` linked to a session (oldest first), and how many such rows
   * there are in all: the export reads only as many of a session's own rows as it can keep.
   */
  latestRows(kind: JournalKind, sessionId: string, limit: number): { rows: JournalRow[]; total: number } {
    const total = (
      this.statement("SELECT count(*) AS n FROM journal WHERE kind = ? AND session_id = ?").get(kind, sessionId) as {
        n: number
      }
    ).n
    const newest = this.statement(
      `SELECT ${COLUMNS} FROM journal WHERE kind = ? AND session_id = ? ORDER BY seq DESC LIMIT ?`,
    ).all(kind, sessionId, limit) as RawRow[]
    const rows = this.withPending(
      newest.reverse().map(toRow),
      (row) => row.kind === kind && row.sessionId === sessionId,
    )
    const pending = rows.length - newest.length
    return { rows: rows.slice(Math.max(0, rows.length - limit)), total: total + pending }
  }

  /** Rows of one kind whose record's own id (`requestId`, `actionId`) is one of `ids`, through its index. */
  rowsByRecordId(kind: RecordIdKind, ids: string[]): JournalRow[] {
    if (ids.length === 0) return []
    const { field, index } = RECORD_ID[kind]
    const sql = `SELECT ${COLUMNS} FROM journal INDEXED BY ${index} WHERE kind = '${kind}' AND json_extract(data, '$.${field}') IN (SELECT value FROM json_each(?)) ORDER BY seq`
    const stored = (this.statement(sql).all(JSON.stringify(ids)) as RawRow[]).map(toRow)
    return this.withPending(
      stored,
      (row) => row.kind === kind && ids.includes((row.data as Record<string, string> | null)?.[field] as string),
    )
  }

  /** The boots that stored records in `format` (see `recordFormat`): their records need no re-validation. */
  bootsWithFormat(format: string): Set<string> {
    const rows = this.statement("SELECT id FROM boot WHERE record_format = ?").all(format) as { id: string }[]
    return new Set(rows.map((row) => row.id))
  }

  /** Stored rows plus the backlog's rows that match: a reader sees what the journal holds, written or not yet. */
  private withPending(stored: JournalRow[], match: (row: JournalRow) => boolean): JournalRow[] {
    const pending = this.pending(match)
    if (pending.length === 0) return stored
    return [...stored, ...pending].sort((a, b) => a.seq - b.seq)
  }
}

const COLUMNS = "seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data"

/**
 * `unfinishedLifecycleRows`' statement: the rows of the actions still open (`lifecycle_open`, kept
 * by triggers as lifecycle rows are written), one read by seq each, however long the history.
 */
export const UNFINISHED_LIFECYCLE = `SELECT ${COLUMNS} FROM journal WHERE seq IN (SELECT seq FROM lifecycle_open) AND +kind = 'lifecycle.started' ORDER BY seq`

/** Each kind `rowsByRecordId` looks up: its record's id field and that field's expression index (schema version 2). */
const RECORD_ID = {
  request: { field: "requestId", index: "journal_request_id" },
  renderer: { field: "actionId", index: "journal_renderer_action_id" },
} as const
export type RecordIdKind = keyof typeof RECORD_ID

interface RawRow {
  seq: number
  time: number
  boot_id: string
  kind: JournalKind
  run_id: string | null
  lifecycle_id: string | null
  session_id: string | null
  data: string
}

/** A journal row as read (its record parsed from the stored JSON). */
export function toRow(raw: RawRow): JournalRow {
  const row: JournalRow = {
    seq: raw.seq,
    time: raw.time,
    bootId: raw.boot_id,
    kind: raw.kind,
    data: parseStoredJson(raw.data),
  }
  if (raw.run_id) row.runId = raw.run_id
  if (raw.lifecycle_id) row.lifecycleId = raw.lifecycle_id
  if (raw.session_id) row.sessionId = raw.session_id
  return row
}
