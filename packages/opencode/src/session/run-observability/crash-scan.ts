/**
 * The startup crash scan: runs the journal says started, with no `run.finished`, whose owning
 * server is gone, become crash evidence (`process_exit_without_finalizer`). They are attributed
 * to a close only when the journal holds an `abort_requested` naming that run; otherwise at most
 * a `possibleCause` names an unfinished action on the same directory that began after the run.
 * A run whose row is unfinished but whose `run.finished` the journal holds ended: its row gets
 * that summary, and no crash is recorded (a build that wrote the two apart could be killed between).
 */
import { existsSync } from "node:fs"
import path from "node:path"
import { deriveRetry } from "../../provenance/retry.ts"
import { CrashEvidence, type LifecycleAction, RunSummary, type ToolFact } from "../../provenance/schemas.ts"
import type { DB } from "../../storage/database.ts"
import type { Journal } from "../../storage/journal.ts"
import type { RunRecord, SessionStore } from "../session-store.ts"
import { keptTools, recordedModel } from "./summary.ts"

/** A boot whose heartbeat is older than this is gone, even if a process with its pid exists. */
const BOOT_STALE_MS = 30_000

export function bootLockPath(dataDir: string, bootId: string): string {
  return path.join(dataDir, "boots", `${bootId}.lock`)
}

/** Whether the server that owned `bootId` still runs: its lock file, its pid, and a fresh heartbeat. */
function bootAlive(db: DB, dataDir: string, bootId: string, now = Date.now()): boolean {
  const row = db.prepare("SELECT pid, last_seen, ended_at FROM boot WHERE id = ?").get(bootId) as
    { pid: number; last_seen: number; ended_at: number | null } | undefined
  if (!row || row.ended_at) return false
  if (!existsSync(bootLockPath(dataDir, bootId))) return false
  if (now - row.last_seen > BOOT_STALE_MS) return false
  try {
    process.kill(row.pid, 0)
    return true
  } catch {
    return false
  }
}

interface ScanArgs {
  db: DB
  dataDir: string
  journal: Journal
  sessions: SessionStore
  now?: number
  /** Waits before each retry of a scan that found the database locked (default 50, 100, 200, 400, 800 ms). */
  lockedBackoffMs?: readonly number[]
}

const LOCKED_BACKOFF_MS = [50, 100, 200, 400, 800]

/**
 * Scans, retrying a few times when another process holds the database's lock at start (a
 * server still shutting down, an export): a lock that clears in a second is no failed scan.
 *
 * @example const evidence = scanForCrashes({ db, dataDir, journal, sessions })
 */
export function scanForCrashes(args: ScanArgs): CrashEvidence[] {
  const backoff = args.lockedBackoffMs ?? LOCKED_BACKOFF_MS
  for (let attempt = 0; ; attempt++) {
    try {
      return scanOnce(args)
    } catch (err) {
      if (!isLocked(err) || attempt >= backoff.length) throw err
      sleepSync(backoff[attempt]!)
    }
  }
}

function isLocked(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED)/.test(code)
}

/** Startup only, before the server listens: nothing else is waiting on the event loop. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * One immediate transaction holds the whole scan, its reads and its writes: a lock held elsewhere
 * fails at its start, before anything is read or written, so a retry is clean; a write that fails
 * midway rolls every write back, so the next boot's scan finds every run as this one did.
 */
function scanOnce(args: ScanArgs): CrashEvidence[] {
  return args.db.transaction(() => scanInTransaction(args)).immediate()
}

function scanInTransaction(args: ScanArgs): CrashEvidence[] {
  const { db, dataDir, journal, sessions } = args
  const now = args.now ?? Date.now()
  restoreJournalledEnds(db, sessions)
  const unfinished = sessions.unfinishedRuns().filter((run) => run.bootId !== journal.bootId)
  if (unfinished.length === 0) return []
  const aliveByBoot = new Map<string, boolean>()
  const dead = unfinished.filter((run) => {
    if (!aliveByBoot.has(run.bootId)) aliveByBoot.set(run.bootId, bootAlive(db, dataDir, run.bootId, now))
    return !aliveByBoot.get(run.bootId)
  })
  if (dead.length === 0) return []
  const rows = journal.rows({
    kinds: ["abort_requested", "run.visible_output", "tool.started", "tool.finished", "run.finished"],
    runIds: dead.map((run) => run.runId),
  })
  // Grouped once: filtering every row per run was quadratic (seconds at 10k crashed runs).
  const rowsByRun = new Map<string, typeof rows>()
  for (const row of rows) {
    if (!row.runId) continue
    const list = rowsByRun.get(row.runId)
    if (list) list.push(row)
    else rowsByRun.set(row.runId, [row])
  }
  const openActions = unfinishedActions(journal)
  const outputAt = sessions.lastOutputTimes(dead.map((run) => run.runId))
  // Records are built before the write, so a row that cannot become one is skipped, never fatal.
  const records: { crash: CrashEvidence; summary: RunSummary }[] = []
  const ended: RunSummary[] = []
  for (const run of dead) {
    const mine = rowsByRun.get(run.runId) ?? []
    const journalled = journalledEnd(run, mine)
    if (journalled) {
      ended.push(journalled)
      continue
    }
    const abort = mine.find((row) => row.kind === "abort_requested")
    const started = toolFacts(mine)
    const { tools, toolsDropped } = keptTools(started)
    // Output stored after the last heartbeat is evidence too; a time after the scan is not.
    const lastOutputAt = outputAt.get(run.runId)
    const output =
      lastOutputAt !== undefined && lastOutputAt >= run.startedAt && lastOutputAt <= now ? { lastOutputAt } : {}
    const parsedCrash = CrashEvidence.safeParse({
      runId: run.runId,
      sessionId: run.sessionId,
      bootId: run.bootId.slice(0, 64),
      instance: { instanceId: run.instanceId, generation: run.generation },
      startedAt: run.startedAt,
      ...(run.heartbeatAt ? { lastHeartbeatAt: run.heartbeatAt } : {}),
      detectedAt: now,
      ...(abort && abort.lifecycleId ? { abortRequested: { lifecycleId: abort.lifecycleId, seq: abort.seq } } : {}),
      ...(abort ? {} : possibleCauseFor(run, openActions)),
      visibleOutput: mine.some((row) => row.kind === "run.visible_output"),
      ...output,
      tools,
      ...(run.resendOf ? { resendOf: run.resendOf } : {}),
    })
    // One damaged run row must not cost every other run its evidence.
    if (!parsedCrash.success) continue
    const crash = parsedCrash.data
    const summary = RunSummary.safeParse({
      runId: run.runId,
      sessionId: run.sessionId,
      seq: 0,
      instance: crash.instance,
      directoryKey: run.directoryKey,
      model: recordedModel(String(run.model)),
      startedAt: run.startedAt,
      finishedAt: now,
      classification: "process_exit_without_finalizer",
      provider: { chunks: 0, progress: crash.visibleOutput === true, ...output },
      watchdog: { fired: false },
      visibleOutput: crash.visibleOutput === true,
      tools,
      ...(toolsDropped ? { toolsDropped } : {}),
      toolFactsRecorded: true,
      // Judged from every tool the journal says started, kept or dropped.
      retry: deriveRetry({ tools: started, toolFactsRecorded: true, visibleOutput: crash.visibleOutput }),
      closeSite: "process_exit_without_finalizer",
      missing: ["run_summary"],
      ...(crash.resendOf ? { resendOf: crash.resendOf } : {}),
    })
    if (summary.success) records.push({ crash, summary: summary.data })
  }
  for (const summary of ended) sessions.finishRun(summary)
  for (const { crash, summary } of records) {
    journal.appendInTransaction("crash.detected", { runId: crash.runId, sessionId: crash.sessionId }, crash, now)
    sessions.finishRun({ ...summary, seq: journal.nextSeq() })
  }
  return records.map((record) => record.crash)
}

/**
 * The candidates `restoreJournalledEnds` reads: runs with crash evidence that also have a
 * journalled end. Driven from the crash rows (few, through the kind index), each run's
 * `run.finished` found through the run index: starting from the `run.finished` rows instead walked
 * every run that ever finished, at every start.
 */
export const JOURNALLED_ENDS = `SELECT j.run_id AS runId, j.data AS data
  FROM (SELECT DISTINCT run_id FROM journal WHERE kind = 'crash.detected' AND run_id IS NOT NULL) c
  JOIN journal j ON j.run_id = c.run_id AND +j.kind = 'run.finished'
  JOIN run ON run.id = c.run_id
  WHERE json_extract(run.summary, '$.classification') = 'process_exit_without_finalizer'
  ORDER BY j.seq`

/**
 * Runs an older build's scan read as crashes although the journal held their `run.finished` (it
 * wrote the two apart, and a kill landed between): the journalled summary is the run's end. The
 * crash row stays as history; a run with a finished summary is read from it.
 */
function restoreJournalledEnds(db: DB, sessions: SessionStore): void {
  const rows = db.prepare(JOURNALLED_ENDS).all() as { runId: string; data: string }[]
  const restored: RunSummary[] = []
  for (const row of rows) {
    let data: unknown
    try {
      data = JSON.parse(row.data)
    } catch {
      continue
    }
    const summary = RunSummary.safeParse(data)
    if (summary.success && summary.data.runId === row.runId) restored.push(summary.data)
  }
  for (const summary of restored) sessions.finishRun(summary)
}

/** The run's journalled `run.finished` summary, when one names it and still parses (a damaged one is no end). */
function journalledEnd(run: RunRecord, rows: ReturnType<Journal["rows"]>): RunSummary | undefined {
  for (const row of rows) {
    if (row.kind !== "run.finished") continue
    const summary = RunSummary.safeParse(row.data)
    if (summary.success && summary.data.runId === run.runId) return summary.data
  }
  return undefined
}

function toolFacts(rows: ReturnType<Journal["rows"]>): ToolFact[] {
  const facts = new Map<string, ToolFact>()
  for (const row of rows) {
    const data = row.data as {
      callId?: string
      name?: string
      kind?: ToolFact["kind"]
      startedAt?: number
      status?: ToolFact["status"]
    }
    // Rows are read back as written by any build: only string ids and names become facts.
    if (typeof data?.callId !== "string" || !data.callId) continue
    if (row.kind === "tool.started" && typeof data.name === "string" && data.name && data.kind) {
      facts.set(data.callId, {
        callId: data.callId,
        name: data.name,
        kind: data.kind,
        startedAt: data.startedAt ?? row.time,
        status: "running",
      })
    } else if (row.kind === "tool.finished") {
      const fact = facts.get(data.callId)
      if (fact && data.status) Object.assign(fact, { status: data.status, completedAt: row.time })
    }
  }
  // A tool still "running" when the process died was interrupted by the exit.
  return [...facts.values()].map((fact) =>
    fact.status === "running" ? { ...fact, status: "interrupted" as const } : fact,
  )
}

function unfinishedActions(journal: Journal): LifecycleAction[] {
  return journal.unfinishedLifecycleRows().flatMap((row) => {
    const action = row.data as Partial<LifecycleAction> | undefined
    // A damaged row cannot name a possible cause.
    return action && Array.isArray(action.directoryKeys) && typeof action.startedAt === "number"
      ? [action as LifecycleAction]
      : []
  })
}

function possibleCauseFor(run: RunRecord, open: LifecycleAction[]): Pick<CrashEvidence, "possibleCause"> {
  const candidate = open.find(
    (action) => action.directoryKeys.includes(run.directoryKey) && action.startedAt >= run.startedAt,
  )
  return candidate ? { possibleCause: { lifecycleId: candidate.lifecycleId, operation: candidate.operation } } : {}
}
