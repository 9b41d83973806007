/**
 * The run journal: an append-only, durably written history of what happened to runs and
 * instances, in one monotonic sequence. Rows are written before the fact they record takes
 * effect (Temporal's rule): `run.started` before the provider is called, `lifecycle.started`
 * and `abort_requested` before any run is aborted, `tool.started` before a tool runs. Every
 * row's data is an allow-listed spine record, never free text.
 *
 * Storage faults (the database locked by another process, a full disk, a read-only or failing
 * file system) never reach the caller: a run must still finish and get its summary. A row that
 * cannot be written is kept, in order, in a bounded in-memory backlog and written when the
 * database accepts writes again (retried on a timer and before the next append). The journal
 * reports itself degraded meanwhile; a row that falls off a full backlog, or is still unwritten
 * at close, is counted as lost and reported, never dropped silently.
 */
import type { DB } from "./database.ts"
import { isStorageFault, parseStoredJson, preparedOnce, storageFaultName } from "./database.ts"

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
/** Unwritten rows and writes kept in memory while the database refuses writes. */
export const MAX_BACKLOG = 5000
/** How often a non-empty backlog is retried when nothing else is appended. */
const RETRY_MS = 500

/** What the journal says about its own health (for `/health` and the export's diagnostics). */
export interface JournalHealth {
  /** Unwritten entries held in memory, waiting for the database to accept writes. */
  backlog: number
  /** Entries given up on (backlog overflow, or unwritten at close): counted, never silent. */
  lost: number
  /** Writes that failed with a storage fault since start (each retried or counted lost). */
  failures: number
  /** Names of the faults that are current (`storage_full`, `storage_locked`, ...); empty when healthy. */
  faults: string[]
  /** The last fault seen, even after recovery. */
  lastFault?: { name: string; code: string; at: number }
}

type Pending =
  | { type: "row"; seq: number; time: number; kind: JournalKind; links: JournalLinks; json: string }
  | { type: "write"; key: string | undefined; write: () => void }

export class Journal {
  private seq: number
  private readonly insert
  private requestRows = 0
  private readonly backlog: Pending[] = []
  private lost = 0
  private failures = 0
  private fault: { name: string; code: string; at: number } | undefined
  private lastFault: { name: string; code: string; at: number } | undefined
  private lastAttempt = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Prepared once per distinct SQL text (the filters below produce a handful). */
  private readonly statement: ReturnType<typeof preparedOnce>

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
    this.statement = preparedOnce(db)
  }

  /** The next number of the one monotonic sequence every server record is ordered by. */
  nextSeq(): number {
    return ++this.seq
  }

  /**
   * Appends a row durably (synchronously) and returns its sequence number. Never throws for a
   * storage fault: the row is kept in the backlog and written once the database accepts writes.
   *
   * @example journal.append("abort_requested", { runId, lifecycleId }, { runId, lifecycleId })
   */
  append(kind: JournalKind, links: JournalLinks, data: unknown, time = Date.now()): number {
    const seq = this.nextSeq()
    const entry: Pending = { type: "row", seq, time, kind, links, json: JSON.stringify(data) ?? "null" }
    if (!this.writeOrQueue(entry)) return seq
    if (kind === "request" && ++this.requestRows > MAX_REQUEST_ROWS * 1.1) {
      try {
        this.pruneRequests()
      } catch (err) {
        if (!isStorageFault(err)) throw err
        // Pruning is housekeeping: the next request row tries again.
      }
    }
    return seq
  }

  /**
   * Runs another store's write (a run row, a message part) with the journal's fault handling:
   * now when the database accepts writes, else in order after the rows already waiting. A
   * `key` coalesces pending writes of the same thing (a part rewritten per chunk): only the
   * latest is kept. Errors that are not storage faults are thrown as usual.
   *
   * @example journal.write(() => sessions.finishRun(summary), `run:${summary.runId}`)
   */
  write(write: () => void, key?: string): void {
    if (key !== undefined && this.backlog.length > 0) {
      const index = this.backlog.findIndex((entry) => entry.type === "write" && entry.key === key)
      if (index >= 0) this.backlog.splice(index, 1)
    }
    this.writeOrQueue({ type: "write", key, write })
  }

  /**
   * Writes the backlog now, if the database accepts writes. Returns true when nothing is left.
   *
   * @example journal.flush() // after a fault cleared
   */
  flush(): boolean {
    if (this.backlog.length === 0) return true
    if (this.closed && !this.db.open) return false
    this.lastAttempt = Date.now()
    try {
      while (this.backlog.length > 0) {
        const batch = this.backlog.slice(0, 500)
        this.db.transaction(() => {
          for (const entry of batch) {
            try {
              this.apply(entry)
            } catch (err) {
              if (isStorageFault(err)) throw err
              // A write that can never succeed (a bug, a constraint) must not block the rest: counted.
              this.lost++
            }
          }
        })()
        this.backlog.splice(0, batch.length)
      }
    } catch (err) {
      if (!isStorageFault(err)) throw err
      this.noteFault(err)
      this.scheduleRetry()
      return false
    }
    this.recovered()
    return true
  }

  /** Health of the journal's writes; `faults` is empty and `backlog` 0 when all is written. */
  health(): JournalHealth {
    return {
      backlog: this.backlog.length,
      lost: this.lost,
      failures: this.failures,
      faults: this.fault ? [this.fault.name] : [],
      ...(this.lastFault ? { lastFault: { ...this.lastFault } } : {}),
    }
  }

  /** Names for `/health`'s `degraded` list: the current fault, a backlog, lost records. */
  degraded(): string[] {
    const out: string[] = []
    if (this.fault) out.push(this.fault.name)
    if (this.backlog.length > 0) out.push("journal_backlog")
    if (this.lost > 0) out.push("journal_records_lost")
    return out
  }

  /** Stops retrying: a last flush, then whatever is still unwritten is counted as lost. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.retryTimer = undefined
    if (this.db.open) {
      try {
        this.flush()
      } catch {
        // close must not throw
      }
    }
    this.lost += this.backlog.length
    this.backlog.length = 0
  }

  private writeOrQueue(entry: Pending): boolean {
    if (this.closed && !this.db.open) {
      this.lost++
      return false
    }
    // While rows wait, a new one goes behind them (order is kept) unless a retry is due now.
    if (this.backlog.length > 0 && !(Date.now() - this.lastAttempt >= RETRY_MS && this.flush())) {
      this.enqueue(entry)
      return false
    }
    try {
      this.apply(entry)
      return true
    } catch (err) {
      if (!isStorageFault(err)) throw err
      this.noteFault(err)
      this.lastAttempt = Date.now()
      this.enqueue(entry)
      this.scheduleRetry()
      return false
    }
  }

  private apply(entry: Pending): void {
    if (entry.type === "write") return entry.write()
    const { seq, time, kind, links, json } = entry
    this.insert.run(seq, time, this.bootId, kind, links.runId ?? null, links.lifecycleId ?? null, links.sessionId ?? null, json)
  }

  private enqueue(entry: Pending): void {
    this.backlog.push(entry)
    if (this.backlog.length <= MAX_BACKLOG) return
    // Full: give up the oldest request-log row first (the least needed), else the oldest entry.
    const index = this.backlog.findIndex((pending) => pending.type === "row" && pending.kind === "request")
    this.backlog.splice(index >= 0 ? index : 0, 1)
    this.lost++
  }

  private noteFault(err: unknown): void {
    this.failures++
    const code = String((err as { code?: unknown })?.code ?? "unknown")
    this.fault = { name: storageFaultName(err), code, at: Date.now() }
    this.lastFault = this.fault
  }

  private recovered(): void {
    if (this.retryTimer) clearInterval(this.retryTimer)
    this.retryTimer = undefined
    this.fault = undefined
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return
    this.retryTimer = setInterval(() => {
      try {
        this.flush()
      } catch {
        // flush rethrows only non-storage errors, which it has already counted
      }
    }, RETRY_MS)
    this.retryTimer.unref?.()
  }

  /** Rows of some kinds, optionally only those linked to a run, lifecycle action or session. */
  rows(filter: { kinds?: JournalKind[]; runIds?: string[]; lifecycleIds?: string[]; sessionId?: string } = {}): JournalRow[] {
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

  /** `lifecycle.started` rows of actions that never finished (found through the lifecycle index, not by reading every action). */
  unfinishedLifecycleRows(): JournalRow[] {
    const stored = this.statement(
      `SELECT ${COLUMNS} FROM journal s WHERE s.kind = 'lifecycle.started' AND NOT EXISTS (SELECT 1 FROM journal f WHERE f.lifecycle_id = s.lifecycle_id AND +f.kind = 'lifecycle.finished') ORDER BY seq`,
    ).all() as RawRow[]
    if (this.backlog.length === 0) return stored.map(toRow)
    const pending = this.withPending([], (row) => row.kind === "lifecycle.started" || row.kind === "lifecycle.finished")
    const finished = new Set(pending.filter((row) => row.kind === "lifecycle.finished").map((row) => row.lifecycleId))
    return [...stored.map(toRow), ...pending.filter((row) => row.kind === "lifecycle.started")].filter((row) => !finished.has(row.lifecycleId))
  }

  /**
   * The newest `limit` rows of `kind` linked to a session (oldest first), and how many such rows
   * there are in all: the export reads only as many of a session's own rows as it can keep.
   */
  latestRows(kind: JournalKind, sessionId: string, limit: number): { rows: JournalRow[]; total: number } {
    const total = (this.statement("SELECT count(*) AS n FROM journal WHERE kind = ? AND session_id = ?").get(kind, sessionId) as { n: number }).n
    const newest = this.statement(`SELECT ${COLUMNS} FROM journal WHERE kind = ? AND session_id = ? ORDER BY seq DESC LIMIT ?`).all(kind, sessionId, limit) as RawRow[]
    const rows = this.withPending(newest.reverse().map(toRow), (row) => row.kind === kind && row.sessionId === sessionId)
    const pending = rows.length - newest.length
    return { rows: rows.slice(Math.max(0, rows.length - limit)), total: total + pending }
  }

  /** Rows of one kind whose record's own id (`requestId`, `actionId`) is one of `ids`, through its index. */
  rowsByRecordId(kind: keyof typeof RECORD_ID, ids: string[]): JournalRow[] {
    if (ids.length === 0) return []
    const { field, index } = RECORD_ID[kind]
    const sql = `SELECT ${COLUMNS} FROM journal INDEXED BY ${index} WHERE kind = '${kind}' AND json_extract(data, '$.${field}') IN (SELECT value FROM json_each(?)) ORDER BY seq`
    const stored = (this.statement(sql).all(JSON.stringify(ids)) as RawRow[]).map(toRow)
    return this.withPending(stored, (row) => row.kind === kind && ids.includes((row.data as Record<string, string> | null)?.[field] as string))
  }

  /** The boots that stored records in `format` (see `recordFormat`): their records need no re-validation. */
  bootsWithFormat(format: string): Set<string> {
    const rows = this.statement("SELECT id FROM boot WHERE record_format = ?").all(format) as { id: string }[]
    return new Set(rows.map((row) => row.id))
  }

  /** Stored rows plus the backlog's rows that match: a reader sees what the journal holds, written or not yet. */
  private withPending(stored: JournalRow[], match: (row: JournalRow) => boolean): JournalRow[] {
    if (this.backlog.length === 0) return stored
    const pending: JournalRow[] = []
    for (const entry of this.backlog) {
      if (entry.type !== "row") continue
      const row = toRow({
        seq: entry.seq,
        time: entry.time,
        boot_id: this.bootId,
        kind: entry.kind,
        run_id: entry.links.runId ?? null,
        lifecycle_id: entry.links.lifecycleId ?? null,
        session_id: entry.links.sessionId ?? null,
        data: entry.json,
      })
      if (match(row)) pending.push(row)
    }
    if (pending.length === 0) return stored
    return [...stored, ...pending].sort((a, b) => a.seq - b.seq)
  }

  private pruneRequests(): void {
    this.db
      .prepare("DELETE FROM journal WHERE kind = 'request' AND seq NOT IN (SELECT seq FROM journal WHERE kind = 'request' ORDER BY seq DESC LIMIT ?)")
      .run(MAX_REQUEST_ROWS)
    this.requestRows = MAX_REQUEST_ROWS
  }
}

const COLUMNS = "seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data"

/** Each kind `rowsByRecordId` looks up: its record's id field and that field's expression index (schema version 2). */
const RECORD_ID = {
  request: { field: "requestId", index: "journal_request_id" },
  renderer: { field: "actionId", index: "journal_renderer_action_id" },
} as const

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
  const row: JournalRow = { seq: raw.seq, time: raw.time, bootId: raw.boot_id, kind: raw.kind, data: parseStoredJson(raw.data) }
  if (raw.run_id) row.runId = raw.run_id
  if (raw.lifecycle_id) row.lifecycleId = raw.lifecycle_id
  if (raw.session_id) row.sessionId = raw.session_id
  return row
}
