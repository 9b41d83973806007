/**
 * Where the streamed export's scan (`export.ts`, `scanSession`) keeps what it learns about the
 * whole session: which runs have an incident chain, which lifecycle actions the runs reach (where
 * each sits, which runs it lists), which requests and renderer actions are named and where each
 * was first recorded. That is a few facts per run, but a session has no bounded number of runs:
 * held in the JavaScript heap they grew the export's memory with the session (about 500 bytes per
 * run, 25 MB at 50 000 runs). Here they live in a private temporary SQLite database of the export's
 * own, whose page cache is capped (`SCAN_CACHE_KIB`); what does not fit spills to a file in the
 * system's temporary directory, which SQLite deletes when the export closes the store.
 *
 * Every method keeps the semantics of the maps it replaces: a fact noted twice keeps its first
 * value, and lists come back in the order the maps iterated (their place, then insertion order).
 */
import { accessSync, constants, statSync } from "node:fs"
import { tmpdir } from "node:os"
import Database from "better-sqlite3"
import type { DB } from "../storage/database.ts"
import { preparedOnce } from "../storage/database.ts"

/** The store's page cache, in KiB: past it, pages go to its temporary file. At 50 000 runs, 512 KiB took no longer than 2 MiB and peaked about 6 MB lower (bench/findings.md). */
const SCAN_CACHE_KIB = 512

/** Ids are NOT NULL: a record without its id (a damaged one) is never noted, so it cannot match, or hide, any other. */
const SCHEMA = `
  CREATE TABLE run_chain (run_id TEXT PRIMARY KEY NOT NULL, linked INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE action (id TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL, runs TEXT NOT NULL, named INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE action_run (run_id TEXT NOT NULL, action INTEGER NOT NULL);
  CREATE TABLE request (id TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL, linked INTEGER NOT NULL);
  CREATE TABLE renderer (id TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL);
`

/** Each item of a batch is one JSON array; statements read a batch through `json_each`. */
const batch = (items: unknown[]) => JSON.stringify(items)

export class ExportScanStore {
  private readonly statement: ReturnType<typeof preparedOnce>
  private actionsIndexed = false

  private constructor(
    private readonly db: DB,
    /** Whether pages past the cache go to a temporary file (else the store is held in memory). */
    readonly spills: boolean,
  ) {
    this.statement = preparedOnce(db)
  }

  /**
   * A new, empty store. Its pages spill to the system's temporary directory; when that cannot be
   * written, the store is held in memory instead (as the facts were before: the export still works).
   */
  static open(canSpill = tempDirWritable()): ExportScanStore {
    const db = new Database(canSpill ? "" : ":memory:")
    db.pragma(`cache_size = -${SCAN_CACHE_KIB}`)
    db.pragma("journal_mode = OFF")
    db.pragma("synchronous = OFF")
    db.exec(SCHEMA)
    return new ExportScanStore(db, canSpill)
  }

  close(): void {
    this.db.close()
  }

  /** Notes whether each run has a chain; a run already noted keeps its first answer. */
  noteRunChains(entries: [runId: string, linked: boolean][]): void {
    if (entries.length === 0) return
    this.statement("INSERT OR IGNORE INTO run_chain SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true").run(
      batch(entries.map(([runId, linked]) => [runId, linked ? 1 : 0])),
    )
  }

  /** Whether the run was noted as having a chain. */
  hasChain(runId: string): boolean {
    const row = this.statement("SELECT linked FROM run_chain WHERE run_id = ?").get(runId) as
      { linked: number } | undefined
    return row?.linked === 1
  }

  /** Notes each action's place and runs, in order; an action already noted keeps its first. */
  noteActions(actions: { lifecycleId: string; seq: number; runIds: readonly string[] }[]): void {
    if (actions.length === 0) return
    this.statement(
      "INSERT OR IGNORE INTO action (id, seq, runs) SELECT value ->> 0, value ->> 1, value -> 2 FROM json_each(?) WHERE true",
    ).run(batch(actions.map((action) => [action.lifecycleId, action.seq, action.runIds])))
  }

  /** Marks the noted actions among `lifecycleIds` as named by a chain: linked, whatever runs they list. */
  nameActions(lifecycleIds: Iterable<string>): void {
    const ids = [...lifecycleIds]
    if (ids.length === 0) return
    this.statement("UPDATE action SET named = 1 WHERE id IN (SELECT value FROM json_each(?))").run(batch(ids))
  }

  /** How many actions are noted, and how many of them are linked (named by a chain, or listing a run with one). */
  actionCount(): { all: number; linked: number } {
    return this.statement(
      `SELECT count(*) AS "all", coalesce(sum(${LINKED_ACTION}), 0) AS linked FROM action a`,
    ).get() as { all: number; linked: number }
  }

  /** Every action noted, by place (ties in the order noted), and whether it is linked. */
  *actionsInOrder(): Generator<{ lifecycleId: string; linked: boolean }> {
    const rows = this.statement(
      `SELECT id, ${LINKED_ACTION} AS linked FROM action a ORDER BY seq, rowid`,
    ).iterate() as Iterable<{ id: string; linked: number }>
    for (const row of rows) yield { lifecycleId: row.id, linked: row.linked === 1 }
  }

  /** The ids of the noted actions that list any of `runIds`, in the order noted. */
  actionsListing(runIds: Iterable<string>): string[] {
    if (!this.actionsIndexed) {
      // Once, when the scan is done and the first page of chains asks: every action's runs, by run.
      this.db.exec(
        "INSERT INTO action_run SELECT r.value, a.rowid FROM action a, json_each(a.runs) r; CREATE INDEX action_run_run ON action_run(run_id)",
      )
      this.actionsIndexed = true
    }
    const rows = this.statement(
      `SELECT a.id FROM action a WHERE a.rowid IN (SELECT action FROM action_run WHERE run_id IN (SELECT value FROM json_each(?))) ORDER BY a.rowid`,
    ).all(batch([...runIds])) as { id: string }[]
    return rows.map((row) => row.id)
  }

  /** Of `ids`, those not noted yet (as requests when `kind` is "request", else as renderer actions), in order. */
  unnoted(kind: "request" | "renderer", ids: Iterable<string>): string[] {
    const list = [...ids]
    if (list.length === 0) return []
    const rows = this.statement(
      `SELECT value AS id FROM json_each(?) WHERE value NOT IN (SELECT id FROM ${kind}) ORDER BY key`,
    ).all(batch(list)) as { id: string }[]
    return rows.map((row) => row.id)
  }

  /**
   * Notes requests with the place of their first record (-1: none valid), linked or the session's
   * own; a request already noted keeps its first entry.
   */
  noteRequests(entries: [requestId: string, seq: number][], linked: boolean): void {
    if (entries.length === 0) return
    this.statement(
      "INSERT OR IGNORE INTO request (id, seq, linked) SELECT value ->> 0, value ->> 1, ? FROM json_each(?) WHERE true",
    ).run(linked ? 1 : 0, batch(entries))
  }

  /** The requests with a valid record, by place (ties in the order noted), linked or not. */
  *requestsInOrder(): Generator<{ requestId: string; linked: boolean }> {
    const rows = this.statement(
      "SELECT id, linked FROM request WHERE seq >= 0 ORDER BY seq, rowid",
    ).iterate() as Iterable<{ id: string; linked: number }>
    for (const row of rows) yield { requestId: row.id, linked: row.linked === 1 }
  }

  /** How many requests with a valid record are noted, and how many of them are linked. */
  requestCount(): { all: number; linked: number } {
    return this.statement(
      'SELECT count(*) AS "all", coalesce(sum(linked), 0) AS linked FROM request WHERE seq >= 0',
    ).get() as { all: number; linked: number }
  }

  /** Notes renderer actions with the place of their first valid row (-1: none); one already noted keeps its first. */
  noteRenderer(entries: [actionId: string, seq: number][]): void {
    if (entries.length === 0) return
    this.statement(
      "INSERT OR IGNORE INTO renderer (id, seq) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true",
    ).run(batch(entries))
  }

  /** How many renderer actions with a valid row are noted. */
  rendererCount(): number {
    return (this.statement("SELECT count(*) AS n FROM renderer WHERE seq >= 0").get() as { n: number }).n
  }

  /** The renderer actions with a valid row, by place (ties in the order noted). */
  *rendererInOrder(): Generator<string> {
    const rows = this.statement("SELECT id FROM renderer WHERE seq >= 0 ORDER BY seq, rowid").iterate() as Iterable<{
      id: string
    }>
    for (const row of rows) yield row.id
  }
}

/** Whether an action is named by a chain or lists a run noted with one (`a`: the action's row). */
const LINKED_ACTION =
  "(a.named = 1 OR EXISTS (SELECT 1 FROM json_each(a.runs) r JOIN run_chain c ON c.run_id = r.value WHERE c.linked = 1))"

/**
 * Where SQLite looks for a directory to spill to, in order: on Unix `SQLITE_TMPDIR`, `TMPDIR`,
 * /var/tmp, /usr/tmp and /tmp (the first writable one); elsewhere the system's temporary directory.
 */
export function spillDirs(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
): string[] {
  if (platform === "win32") return [tmpdir()]
  return [env.SQLITE_TMPDIR, env.TMPDIR, "/var/tmp", "/usr/tmp", "/tmp"].filter((dir): dir is string => !!dir)
}

/** Whether any of `dirs` is a directory this process can write: SQLite will find one to spill to. */
export function tempDirWritable(dirs: readonly string[] = spillDirs()): boolean {
  return dirs.some((dir) => {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK)
      return statSync(dir).isDirectory()
    } catch {
      return false
    }
  })
}
