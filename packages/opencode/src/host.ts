/**
 * The composition root: one data dir's database and journal, the event bus, the instance store,
 * the processor and the config files, wired together once per server process (and by the CLI's
 * `export` without a server).
 */
import { randomBytes } from "node:crypto"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { newId } from "./id.ts"
import { createRedactor, recordFormat, type Redactor } from "./provenance/node/index.ts"
import { type LifecycleAction } from "./provenance/schemas.ts"
import { providerFromEnv } from "./provider/openai.ts"
import { createProviderRegistry, type ProviderRegistry } from "./provider/registry.ts"
import { createScriptedProvider } from "./provider/scripted.ts"
import { InstanceStore } from "./project/instance-store.ts"
import { EventBus } from "./bus/index.ts"
import { Processor } from "./session/processor.ts"
import { bootLockPath, scanForCrashes } from "./session/run-observability/crash-scan.ts"
import { SessionStore } from "./session/session-store.ts"
import {
  isStorageFault,
  openDatabase,
  openDatabaseResilient,
  type DB,
  type OpenedDatabase,
} from "./storage/database.ts"
import { lockDataDir } from "./storage/data-dir-lock.ts"
import { Journal, type JournalHealth } from "./storage/journal.ts"
import { builtinTools } from "./tool/registry.ts"
import { GlobalConfig } from "./config/global-config.ts"
import type { CrashEvidence } from "./provenance/schemas.ts"

export const VERSION = "0.1.0"

export interface HostOptions {
  dataDir: string
  /** Length of a scripted tick (default 500 ms; `OPENCODE_SCRIPTED_TICK_MS`). */
  scriptedTickMs?: number
  watchdogMs?: number
  heartbeatMs?: number
  settleTimeoutMs?: number
  env?: Record<string, string | undefined>
  /** Open the database only (the CLI's export): no boot, no crash scan, no timers. */
  readOnly?: boolean
}

export interface Host {
  db: DB
  dataDir: string
  bootId: string
  startedAt: number
  journal: Journal
  bus: EventBus
  redactor: Redactor
  sessions: SessionStore
  instances: InstanceStore
  processor: Processor
  providers: ProviderRegistry
  globalConfig: GlobalConfig
  /** The data dir's database was opened read-only (`storage_read_only`): its history is served, no new record can be kept. */
  storageReadOnly: boolean
  crashes: CrashEvidence[]
  /** Recent lifecycle actions by id (the journal holds them all). */
  lifecycle: Map<string, LifecycleAction>
  /**
   * Names of what is degraded right now (`/health`'s `degraded`): storage faults
   * (`storage_full`, `storage_locked`, `storage_read_only`, `storage_io_error`), a journal
   * backlog, lost journal records, a database recovered or unavailable at start, a failed
   * crash scan, a close a watcher started that failed. A fresh array on every read; a fault that
   * clears leaves it.
   */
  readonly degraded: string[]
  /**
   * The degraded names with the journal's counts, for the export's `diagnostics.degraded`
   * (read it there; nothing else in it is needed).
   */
  health(): HostHealth
  close(): void
}

interface HostHealth {
  degraded: string[]
  journal: JournalHealth
}

const RECENT_ACTIONS = 2000

export function createHost(options: HostOptions): Host {
  const env = options.env ?? process.env
  const dataDir = path.resolve(options.dataDir)
  // One server per data dir (the journal's sequence is per process); the export CLI only reads, so it takes no lock.
  const dataDirLock = options.readOnly ? undefined : lockDataDir(dataDir)
  // The export CLI opens read-only and must never move a user's file aside; a server recovers.
  let opened: OpenedDatabase
  try {
    opened = options.readOnly ? { db: openDatabase(dataDir), degraded: [] } : openDatabaseResilient(dataDir)
  } catch (err) {
    dataDirLock?.release()
    throw err
  }
  const db = opened.db
  const degraded: string[] = [...opened.degraded]
  if (opened.degraded.length)
    console.error(
      `data dir: ${opened.degraded.join(", ")}${"movedAside" in opened && opened.movedAside ? ` (the unreadable database was kept as ${path.basename(opened.movedAside)})` : ""}`,
    )
  const bootId = newId("boot")
  const startedAt = Date.now()
  const journal = new Journal(db, bootId)
  const bus = new EventBus(bootId)
  const redactor = createRedactor(saltOf(db))
  const sessions = new SessionStore(db, bootId)
  const globalConfig = new GlobalConfig(dataDir, env.OPENCODE_CONFIG_CONTENT)
  const lifecycle = new Map<string, LifecycleAction>()
  bus.subscribe((event) => {
    if (event.type !== "lifecycle.action.started" && event.type !== "lifecycle.action.finished") return
    const action = event.properties.action
    lifecycle.set(action.lifecycleId, action)
    if (lifecycle.size > RECENT_ACTIONS) lifecycle.delete(lifecycle.keys().next().value!)
  })

  const tickMs = options.scriptedTickMs ?? numberEnv(env.OPENCODE_SCRIPTED_TICK_MS)
  const registry = createProviderRegistry({
    scripted: createScriptedProvider(tickMs !== undefined ? { tickMs } : {}),
    openai: providerFromEnv(env),
  })
  // The global config's default model is named by the prompt route (`globalConfig.model()`), read as the file is now.
  const providers: ProviderRegistry = registry
  let processor!: Processor
  const instances = new InstanceStore({
    journal,
    bus,
    redactor,
    settleTimeoutMs: options.settleTimeoutMs ?? numberEnv(env.OPENCODE_SETTLE_TIMEOUT_MS) ?? 5000,
    maxInstances: numberEnv(env.OPENCODE_MAX_INSTANCES) || undefined,
    onUnsettled: (run) => processor.finalizeUnsettled(run),
    // A late request changes no cause: it is added to the summary already written.
    onLate: (run) => {
      const stored = sessions.run(run.sessionId, run.runId)?.summary
      if (stored)
        journal.write(
          () => sessions.finishRun({ ...stored, alsoRequestedBy: run.alsoRequestedBy.slice(0, 64) }),
          `run:${run.runId}:late`,
        )
    },
    watchConfig: !options.readOnly,
  })
  processor = new Processor({
    journal,
    bus,
    sessions,
    providers,
    tools: builtinTools(),
    redactor,
    watchdogMs: options.watchdogMs ?? numberEnv(env.OPENCODE_WATCHDOG_MS) ?? 60_000,
    lifecycleRecords: (ids) => ids.flatMap((id) => (lifecycle.has(id) ? [lifecycle.get(id)!] : [])),
  })

  const timers: NodeJS.Timeout[] = []
  let crashes: CrashEvidence[] = []
  if (!options.readOnly) {
    try {
      mkdirSync(path.dirname(bootLockPath(dataDir, bootId)), { recursive: true, mode: 0o700 })
      writeFileSync(bootLockPath(dataDir, bootId), `${process.pid}\n`, { mode: 0o600 })
    } catch {
      // A data dir we cannot write: the database already says so (storage_unavailable).
      if (!degraded.includes("boot_lock_failed")) degraded.push("boot_lock_failed")
    }
    journal.write(() => {
      db.prepare("INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES (?, ?, ?, ?, ?)").run(
        bootId,
        process.pid,
        startedAt,
        startedAt,
        recordFormat(),
      )
    }, "boot")
    try {
      crashes = scanForCrashes({ db, dataDir, journal, sessions })
    } catch (err) {
      degraded.push("crash_scan_failed")
      console.error("crash scan failed:", err instanceof Error ? err.message : err)
    }
    const heartbeatMs = options.heartbeatMs ?? numberEnv(env.OPENCODE_HEARTBEAT_MS) ?? 5000
    const beat = setInterval(() => {
      try {
        const now = Date.now()
        db.prepare("UPDATE boot SET last_seen = ? WHERE id = ?").run(now, bootId)
        sessions.heartbeat(
          processor.activeRuns().map((run) => run.runId),
          now,
        )
      } catch {
        // A failed heartbeat only makes a later crash look older; the next beat retries.
      }
    }, heartbeatMs)
    beat.unref()
    timers.push(beat)
    const pulse = setInterval(() => bus.publish({ type: "server.heartbeat", properties: {} }), 10_000)
    pulse.unref()
    timers.push(pulse)
  }

  const currentDegraded = () => [
    ...new Set([
      ...degraded,
      ...journal.degraded(),
      ...(instances.watcherCloseFailures > 0 ? ["watcher_close_failed"] : []),
    ]),
  ]
  let closed = false
  return {
    db,
    dataDir,
    bootId,
    startedAt,
    journal,
    bus,
    redactor,
    sessions,
    instances,
    processor,
    providers,
    globalConfig,
    storageReadOnly: opened.readOnly === true,
    get crashes() {
      return crashes
    },
    lifecycle,
    get degraded() {
      return currentDegraded()
    },
    health() {
      return { degraded: currentDegraded(), journal: journal.health() }
    },
    close() {
      if (closed) return
      closed = true
      for (const timer of timers) clearInterval(timer)
      globalConfig.close()
      journal.close()
      const lost = journal.health().lost
      if (lost > 0) console.error(`journal: ${lost} record(s) could not be written to the data dir and were lost`)
      if (!options.readOnly) {
        try {
          db.prepare("UPDATE boot SET ended_at = ? WHERE id = ?").run(Date.now(), bootId)
          rmSync(bootLockPath(dataDir, bootId), { force: true })
        } catch {
          // Closing must not throw; a leftover lock reads as a crash only if the heartbeat is stale too.
        }
      }
      db.close()
      dataDirLock?.release()
    },
  }
}

function saltOf(db: DB): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'salt'").get() as { value: string } | undefined
  if (row) return row.value
  const salt = randomBytes(32).toString("hex")
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('salt', ?)").run(salt)
  } catch (err) {
    // Unwritable now: digests of this boot use a salt that is not kept (they will not match a later boot's).
    if (!isStorageFault(err)) throw err
  }
  return salt
}

function numberEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}
