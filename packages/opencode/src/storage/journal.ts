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
 *
 * This file is the writer and its backlog; the reads are `journal-queries.ts`, reached through
 * the same object.
 */
import type { DB } from "./database.ts"
import { isStorageFault, storageFaultName } from "./database.ts"
import {
  type JournalKind,
  JournalQueries,
  type JournalRow,
  type RecordIdKind,
  type RowFilter,
  toRow,
} from "./journal-queries.ts"

interface JournalLinks {
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
  | {
      type: "row"
      seq: number
      time: number
      kind: JournalKind
      links: JournalLinks
      json: string
      alongside?: () => void
    }
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
  private readonly queries: JournalQueries

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
    this.queries = new JournalQueries(db, (match) => this.pendingRows(match))
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
   * `append` for a caller's own transaction: a storage fault is thrown, never kept in the
   * backlog, so the caller's transaction rolls back whole (a backlog row would outlive the
   * rollback and be written later without the writes it belonged with).
   *
   * @example db.transaction(() => { journal.appendInTransaction("crash.detected", links, crash); sessions.finishRun(summary) })()
   */
  appendInTransaction(kind: JournalKind, links: JournalLinks, data: unknown, time = Date.now()): number {
    const seq = this.nextSeq()
    this.insertRow(seq, time, kind, links, JSON.stringify(data) ?? "null")
    return seq
  }

  /**
   * `append`, with another store's write in the same transaction: both are written or neither,
   * so no kill can land between them (`run.finished` and the run row's summary). A storage fault
   * keeps the pair in the backlog as one entry.
   *
   * @example journal.appendWith("run.finished", { runId, sessionId }, summary, () => sessions.finishRun(summary))
   */
  appendWith(kind: JournalKind, links: JournalLinks, data: unknown, alongside: () => void): number {
    const seq = this.nextSeq()
    this.writeOrQueue({
      type: "row",
      seq,
      time: Date.now(),
      kind,
      links,
      json: JSON.stringify(data) ?? "null",
      alongside,
    })
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

  /** One journal row, as every write path stores it. */
  private insertRow(seq: number, time: number, kind: JournalKind, links: JournalLinks, json: string): void {
    this.insert.run(
      seq,
      time,
      this.bootId,
      kind,
      links.runId ?? null,
      links.lifecycleId ?? null,
      links.sessionId ?? null,
      json,
    )
  }

  private apply(entry: Pending): void {
    if (entry.type === "write") return entry.write()
    const { seq, time, kind, links, json, alongside } = entry
    const insert = () => this.insertRow(seq, time, kind, links, json)
    if (!alongside) return void insert()
    this.db.transaction(() => {
      insert()
      alongside()
    })()
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

  /** The backlog's rows that `match`, in order: written or not, they are the journal's. */
  pendingRows(match: (row: JournalRow) => boolean): JournalRow[] {
    if (this.backlog.length === 0) return []
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
    return pending
  }

  // The reads are journal-queries.ts's; each sees the backlog's rows as well.

  /** Rows of some kinds, optionally only those linked to a run, lifecycle action or session. */
  rows(filter: RowFilter = {}): JournalRow[] {
    return this.queries.rows(filter)
  }

  /** A session's `crash.detected` rows, in seq order (found through the kind index: crash rows are few). */
  crashRows(sessionId: string): JournalRow[] {
    return this.queries.crashRows(sessionId)
  }

  /** `lifecycle.started` rows of actions that never finished. */
  unfinishedLifecycleRows(): JournalRow[] {
    return this.queries.unfinishedLifecycleRows()
  }

  /** The newest `limit` rows of `kind` linked to a session (oldest first), and how many such rows there are in all. */
  latestRows(kind: JournalKind, sessionId: string, limit: number): { rows: JournalRow[]; total: number } {
    return this.queries.latestRows(kind, sessionId, limit)
  }

  /** Rows of one kind whose record's own id (`requestId`, `actionId`) is one of `ids`. */
  rowsByRecordId(kind: RecordIdKind, ids: string[]): JournalRow[] {
    return this.queries.rowsByRecordId(kind, ids)
  }

  /** The boots that stored records in `format` (see `recordFormat`). */
  bootsWithFormat(format: string): Set<string> {
    return this.queries.bootsWithFormat(format)
  }

  private pruneRequests(): void {
    this.db
      .prepare(
        "DELETE FROM journal WHERE kind = 'request' AND seq NOT IN (SELECT seq FROM journal WHERE kind = 'request' ORDER BY seq DESC LIMIT ?)",
      )
      .run(MAX_REQUEST_ROWS)
    this.requestRows = MAX_REQUEST_ROWS
  }
}
