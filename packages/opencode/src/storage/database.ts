/**
 * The SQLite database in the data dir (WAL): sessions, messages, parts, runs and the run
 * journal. Versioned migrations run at open; each is applied once, in order, in a transaction.
 */
import { mkdirSync } from "node:fs"
import path from "node:path"
import Database from "better-sqlite3"

export type DB = Database.Database

/** Each entry is one schema version; never edit a shipped migration, append a new one. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE session (
    id TEXT PRIMARY KEY, directory TEXT NOT NULL, directory_key TEXT NOT NULL, project_id TEXT NOT NULL,
    title TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
  CREATE INDEX session_directory ON session(directory_key, updated);
  CREATE TABLE message (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL, created INTEGER NOT NULL,
    completed INTEGER, run_id TEXT, provider_id TEXT, model_id TEXT);
  CREATE INDEX message_session ON message(session_id, created);
  CREATE TABLE part (
    id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, ord INTEGER NOT NULL,
    type TEXT NOT NULL, text TEXT, data TEXT);
  CREATE INDEX part_message ON part(message_id, ord);
  CREATE TABLE run (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, directory_key TEXT NOT NULL, instance_id TEXT NOT NULL,
    generation INTEGER NOT NULL, model TEXT NOT NULL, boot_id TEXT NOT NULL, started_at INTEGER NOT NULL,
    finished_at INTEGER, heartbeat_at INTEGER, summary TEXT);
  CREATE INDEX run_session ON run(session_id, started_at);
  CREATE INDEX run_unfinished ON run(finished_at) WHERE finished_at IS NULL;
  CREATE TABLE journal (
    seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, boot_id TEXT NOT NULL, kind TEXT NOT NULL,
    run_id TEXT, lifecycle_id TEXT, session_id TEXT, data TEXT NOT NULL);
  CREATE INDEX journal_run ON journal(run_id) WHERE run_id IS NOT NULL;
  CREATE INDEX journal_lifecycle ON journal(lifecycle_id) WHERE lifecycle_id IS NOT NULL;
  CREATE INDEX journal_session ON journal(session_id) WHERE session_id IS NOT NULL;
  CREATE INDEX journal_kind ON journal(kind);
  CREATE TABLE boot (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, started_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, ended_at INTEGER);
  `,
]

/**
 * Opens (creating) the database in `dataDir` and brings its schema up to date.
 *
 * @example const db = openDatabase("/tmp/data")
 */
export function openDatabase(dataDir: string): DB {
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(path.join(dataDir, "opencode.db"), { timeout: 5000 })
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.pragma("foreign_keys = ON")
  migrate(db)
  return db
}

export function schemaVersion(db: DB): number {
  return db.pragma("user_version", { simple: true }) as number
}

function migrate(db: DB): void {
  const current = schemaVersion(db)
  if (current > MIGRATIONS.length) {
    throw new Error(`the database in the data dir was written by a newer version (schema ${current}, this build knows ${MIGRATIONS.length})`)
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!)
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
}
