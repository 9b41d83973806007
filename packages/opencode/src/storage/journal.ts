/**
 * The run journal: an append-only, durably written history of what happened to runs and
 * instances, in one monotonic sequence. Rows are written before the fact they record takes
 * effect (Temporal's rule): `run.started` before the provider is called, `lifecycle.started`
 * and `abort_requested` before any run is aborted, `tool.started` before a tool runs. Every
 * row's data is an allow-listed spine record, never free text.
 */
import type { DB } from "./database.ts"

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

export interface JournalLinks {
  runId?: string | undefined
  lifecycleId?: string | undefined
  sessionId?: string | undefined
}

/** Rows kept of the request log; older request rows are pruned past this. */
const MAX_REQUEST_ROWS = 20_000

export class Journal {
  private seq: number
  private readonly insert
  private requestRows = 0

  constructor(
    private readonly db: DB,
    readonly bootId: string,
  ) {
    const row = db.prepare("SELECT max(seq) AS seq FROM journal").get() as { seq: number | null }
    this.seq = row.seq ?? 0
    this.insert = db.prepare(
      "INSERT INTO journal (seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    this.requestRows = (db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'request'").get() as { n: number }).n
  }

  /** The next number of the one monotonic sequence every server record is ordered by. */
  nextSeq(): number {
    return ++this.seq
  }

  /**
   * Appends a row durably (synchronously) and returns its sequence number.
   *
   * @example journal.append("abort_requested", { runId, lifecycleId }, { runId, lifecycleId })
   */
  append(kind: JournalKind, links: JournalLinks, data: unknown, time = Date.now()): number {
    const seq = this.nextSeq()
    this.insert.run(seq, time, this.bootId, kind, links.runId ?? null, links.lifecycleId ?? null, links.sessionId ?? null, JSON.stringify(data))
    if (kind === "request" && ++this.requestRows > MAX_REQUEST_ROWS * 1.1) this.pruneRequests()
    return seq
  }

  /** Rows of some kinds, optionally only those linked to a run, lifecycle action or session. */
  rows(filter: { kinds?: JournalKind[]; runIds?: string[]; lifecycleIds?: string[]; sessionId?: string } = {}): JournalRow[] {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.kinds?.length) {
      where.push(`kind IN (${filter.kinds.map(() => "?").join(",")})`)
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
    const sql = `SELECT * FROM journal ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq`
    return (this.db.prepare(sql).all(...args) as RawRow[]).map(toRow)
  }

  /** Rows of one kind whose record has `field` equal to one of `values` (request ids, action ids). */
  rowsWhere(kind: JournalKind, field: "requestId" | "actionId", values: string[]): JournalRow[] {
    if (values.length === 0) return []
    const sql = `SELECT * FROM journal WHERE kind = ? AND json_extract(data, '$.${field}') IN (SELECT value FROM json_each(?)) ORDER BY seq`
    return (this.db.prepare(sql).all(kind, JSON.stringify(values)) as RawRow[]).map(toRow)
  }

  private pruneRequests(): void {
    this.db
      .prepare("DELETE FROM journal WHERE kind = 'request' AND seq NOT IN (SELECT seq FROM journal WHERE kind = 'request' ORDER BY seq DESC LIMIT ?)")
      .run(MAX_REQUEST_ROWS)
    this.requestRows = MAX_REQUEST_ROWS
  }
}

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

function toRow(raw: RawRow): JournalRow {
  let data: unknown
  try {
    data = JSON.parse(raw.data)
  } catch {
    data = undefined
  }
  return {
    seq: raw.seq,
    time: raw.time,
    bootId: raw.boot_id,
    kind: raw.kind,
    ...(raw.run_id ? { runId: raw.run_id } : {}),
    ...(raw.lifecycle_id ? { lifecycleId: raw.lifecycle_id } : {}),
    ...(raw.session_id ? { sessionId: raw.session_id } : {}),
    data,
  }
}
