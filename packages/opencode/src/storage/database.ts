/**
 * The SQLite database in the data dir (WAL): sessions, messages, parts, runs and the run
 * journal. Versioned migrations run at open; each is applied once, in order, in a transaction.
 */
import { constants as bufferConstants } from "node:buffer"
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync } from "node:fs"
import path from "node:path"
import Database, { type Statement } from "better-sqlite3"
import { searchKey } from "./search-key.ts"
import { readRegularFileSync } from "../regular-file.ts"

export type DB = Database.Database

/**
 * A statement cache for one database: each SQL text is prepared once. Preparing on every call was
 * about a tenth of a session listing's CPU (measured by bench/).
 *
 * @example const stmt = preparedOnce(db); stmt("SELECT * FROM run WHERE id = ?").get(id)
 */
export function preparedOnce(db: DB): (sql: string) => Statement<unknown[]> {
  const statements = new Map<string, Statement<unknown[]>>()
  return (sql) => {
    let statement = statements.get(sql)
    if (!statement) statements.set(sql, (statement = db.prepare<unknown[]>(sql)))
    return statement
  }
}

/**
 * How long a write waits for another process's lock before failing with SQLITE_BUSY. Short on
 * purpose: better-sqlite3 waits synchronously, so a long wait would stall the whole server
 * while another process holds the database. A failed journal write is kept and retried.
 */
const BUSY_TIMEOUT_MS = 200

const FAULT_NAMES: [RegExp, string][] = [
  [/^SQLITE_FULL/, "storage_full"],
  [/^SQLITE_(BUSY|LOCKED)/, "storage_locked"],
  [/^SQLITE_READONLY/, "storage_read_only"],
  [/^SQLITE_(CORRUPT|NOTADB)/, "storage_corrupt"],
  [/^SQLITE_(IOERR|CANTOPEN|PROTOCOL|NOLFS)/, "storage_io_error"],
]

/**
 * Whether an error is the storage failing (locked, full, read-only, I/O, corrupt) rather than
 * a bug in a statement: those are survivable and retried; anything else is thrown as usual.
 *
 * @example try { stmt.run() } catch (err) { if (!isStorageFault(err)) throw err }
 */
export function isStorageFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code === "string") return FAULT_NAMES.some(([pattern]) => pattern.test(code))
  // better-sqlite3 on a closed connection (a write that lands after shutdown).
  return err instanceof TypeError && /database connection is not open/.test(err.message)
}

/** The `degraded` name for a storage fault, e.g. `storage_full` for SQLITE_FULL. */
export function storageFaultName(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code === "string") for (const [pattern, name] of FAULT_NAMES) if (pattern.test(code)) return name
  return err instanceof TypeError ? "storage_closed" : "storage_error"
}

export interface OpenedDatabase {
  db: DB
  /**
   * What had to be worked around to open it: `database_recovered` (the file was unreadable or
   * corrupt and was moved aside, a fresh one created), `storage_unavailable` (the data dir
   * could not be written at all and held no database: the server runs on an in-memory database,
   * nothing is durable), `storage_read_only` (the data dir's database could only be opened for
   * reading: its history is served, every write is refused).
   */
  degraded: string[]
  /** Where an unreadable database file was moved, when it was. */
  movedAside?: string
  /** The database refuses every write (opened read-only): nothing a run does can be kept. */
  readOnly?: boolean
}

/** Each entry is one schema version (SQL, or a function for what only JavaScript computes); never edit a shipped migration, append a new one. */
const MIGRATIONS: (string | ((db: DB) => void))[] = [
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
  // 2: the export looks requests up by request id and renderer actions by action id; each boot
  // and each run summary names who wrote it, so records of this build are not re-validated.
  `
  ALTER TABLE boot ADD COLUMN record_format TEXT;
  ALTER TABLE run ADD COLUMN summary_boot TEXT;
  CREATE INDEX journal_request_id ON journal(json_extract(data, '$.requestId')) WHERE kind = 'request';
  CREATE INDEX journal_renderer_action_id ON journal(json_extract(data, '$.actionId')) WHERE kind = 'renderer';
  `,
  // 3: a resend names the stopped run it replaces; each part keeps when it was last written, so
  // a lost run's last evidence includes the output stored after its last heartbeat.
  `
  ALTER TABLE run ADD COLUMN resend_of TEXT;
  ALTER TABLE part ADD COLUMN updated INTEGER;
  CREATE INDEX message_run ON message(run_id) WHERE run_id IS NOT NULL;
  `,
  // 4: search matches a folded key of the title (every script's case, NFC/NFD alike), kept in an
  // index beside the listing order; an untitled session is marked instead of being recognised by
  // the ISO time its default title used to carry.
  (db) => {
    db.exec(`
      ALTER TABLE session ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
      ALTER TABLE session ADD COLUMN title_default INTEGER NOT NULL DEFAULT 0;
      UPDATE session SET title = 'New session', title_default = 1 WHERE title GLOB 'New session - [0-9][0-9][0-9][0-9]-*Z';
      DROP INDEX session_directory;
      CREATE INDEX session_search ON session(directory_key, updated, title_key);
    `)
    const update = db.prepare("UPDATE session SET title_key = ? WHERE rowid = ?")
    for (const row of db.prepare("SELECT rowid AS rid, title FROM session").all() as { rid: number; title: string }[]) {
      update.run(searchKey(row.title), row.rid)
    }
  },
  // 5: the lifecycle actions still open, kept as their rows are written (by triggers, so every
  // writer keeps them), filled once from the journal here: a boot after a crash reads these alone
  // instead of checking every action the journal ever recorded for its end. A start written after
  // its own end (a backlog replayed out of order) never opens.
  `
  CREATE TABLE lifecycle_open (seq INTEGER PRIMARY KEY, lifecycle_id TEXT);
  CREATE INDEX lifecycle_open_id ON lifecycle_open(lifecycle_id);
  CREATE TRIGGER lifecycle_opened AFTER INSERT ON journal
    WHEN NEW.kind = 'lifecycle.started' AND NOT EXISTS (
      SELECT 1 FROM journal f WHERE f.lifecycle_id = NEW.lifecycle_id AND +f.kind = 'lifecycle.finished')
  BEGIN
    INSERT INTO lifecycle_open (seq, lifecycle_id) VALUES (NEW.seq, NEW.lifecycle_id);
  END;
  CREATE TRIGGER lifecycle_closed AFTER INSERT ON journal WHEN NEW.kind = 'lifecycle.finished'
  BEGIN
    DELETE FROM lifecycle_open WHERE lifecycle_id = NEW.lifecycle_id;
  END;
  INSERT INTO lifecycle_open (seq, lifecycle_id)
    SELECT s.seq, s.lifecycle_id FROM journal s WHERE s.kind = 'lifecycle.started' AND NOT EXISTS (
      SELECT 1 FROM journal f WHERE f.lifecycle_id = s.lifecycle_id AND +f.kind = 'lifecycle.finished');
  `,
]

/**
 * Creates the data dir, owner-only (0700), with any missing parents: it holds prompts and
 * answers. A directory that already exists keeps the permissions its owner chose.
 *
 * @example ensureDataDir("/home/me/.local/share/opencode-provenance")
 */
export function ensureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
}

/**
 * Creates `file` empty and owner-only (0600) when it does not exist; an existing file keeps its
 * mode. SQLite gives a database's WAL and SHM files the database file's mode, so they follow.
 *
 * @example createOwnerOnly(path.join(dataDir, "opencode.db"))
 */
export function createOwnerOnly(file: string): void {
  try {
    closeSync(openSync(file, "wx", 0o600))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err
  }
}

/**
 * Opens (creating) the database in `dataDir` and brings its schema up to date.
 *
 * @example const db = openDatabase("/tmp/data")
 */
export function openDatabase(dataDir: string): DB {
  ensureDataDir(dataDir)
  const file = path.join(dataDir, "opencode.db")
  createOwnerOnly(file)
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  try {
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    db.pragma("foreign_keys = ON")
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/**
 * Opens the data dir's database for a server, surviving what a server must survive at start:
 * a truncated or corrupt file (moved aside as `opencode.db.corrupt-TIME`, with its WAL, and a
 * fresh database created: a running server beats a lost history, and the old file is kept for
 * inspection), a data dir that cannot be written but holds a database (opened read-only,
 * reported as `storage_read_only`: the history stays visible), and one that cannot be written
 * and holds none (an in-memory database, reported as `storage_unavailable`). A database written by a newer version is still an error: moving it
 * aside would hide the user's history from the version that can read it.
 *
 * @example const { db, degraded } = openDatabaseResilient(dataDir)
 */
export function openDatabaseResilient(dataDir: string): OpenedDatabase {
  let first: unknown
  try {
    const db = openDatabase(dataDir)
    const check = db.pragma("quick_check", { simple: true })
    if (check === "ok") return { db, degraded: [] }
    db.close()
    first = Object.assign(new Error(`database failed its integrity check`), { code: "SQLITE_CORRUPT" })
  } catch (err) {
    first = err
  }
  const name = storageFaultName(first)
  if (name === "storage_corrupt" || isUnreadableFile(first)) {
    const file = path.join(dataDir, "opencode.db")
    const aside = `${file}.corrupt-${Date.now()}`
    try {
      renameSync(file, aside)
      for (const suffix of ["-wal", "-shm"]) if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix)
      return { db: openDatabase(dataDir), degraded: ["database_recovered"], movedAside: aside }
    } catch (err) {
      first = err
    }
  }
  if ((isStorageFault(first) || isFileSystemRefusal(first)) && name !== "storage_locked" && hasDatabase(dataDir)) {
    // The history is there but cannot be written: show it, read-only, rather than an empty server.
    try {
      return { db: openDatabaseReadOnly(dataDir), degraded: ["storage_read_only"], readOnly: true }
    } catch (err) {
      if (!isStorageFault(err) && !isFileSystemRefusal(err)) throw err
    }
  }
  if (isStorageFault(first) || isFileSystemRefusal(first)) {
    const db = new Database(":memory:")
    db.pragma("foreign_keys = ON")
    migrate(db)
    return {
      db,
      degraded: [
        "storage_unavailable",
        storageFaultName(first) === "storage_error" ? "storage_read_only" : storageFaultName(first),
      ],
    }
  }
  throw first
}

/**
 * Opens the data dir's existing database for reading only; every write fails with
 * SQLITE_READONLY (a storage fault: `storage_read_only`). On a read-only file system SQLite
 * cannot open a WAL database whose WAL index is gone (a clean shutdown removes it), so then the
 * file is read into memory: its header marked as a rollback-journal database (a copy has no
 * WAL), an older schema brought up to date in the copy only, and writes refused by
 * `query_only`. That copy costs memory the size of the file.
 *
 * @example const db = openDatabaseReadOnly("/mnt/ro/data")
 */
export function openDatabaseReadOnly(dataDir: string): DB {
  const file = path.join(dataDir, "opencode.db")
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS })
    try {
      if (schemaVersion(db) === MIGRATIONS.length) return db
    } catch (err) {
      if (!isStorageFault(err)) throw err
    }
    db.close()
  } catch (err) {
    if (!isStorageFault(err)) throw err
  }
  const image = readRegularFileSync(file, { maxBytes: bufferConstants.MAX_LENGTH, label: "opencode.db" })
  // Bytes 18 and 19 of the header are the file format's write and read versions: 2 is WAL, 1 rollback journal.
  image[18] = 1
  image[19] = 1
  const db = new Database(image)
  try {
    migrate(db)
    db.pragma("query_only = ON")
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

function hasDatabase(dataDir: string): boolean {
  try {
    return statSync(path.join(dataDir, "opencode.db")).size > 0
  } catch {
    return false
  }
}

function isUnreadableFile(err: unknown): boolean {
  return err instanceof Error && /file is not a database|malformed|integrity check/i.test(err.message)
}

function isFileSystemRefusal(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === "EROFS" || code === "EACCES" || code === "EPERM" || code === "ENOSPC"
}

export function schemaVersion(db: DB): number {
  return db.pragma("user_version", { simple: true }) as number
}

function migrate(db: DB): void {
  const current = schemaVersion(db)
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the database in the data dir was written by a newer version (schema ${current}, this build knows ${MIGRATIONS.length})`,
    )
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      const migration = MIGRATIONS[version]!
      if (typeof migration === "string") db.exec(migration)
      else migration(db)
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
}

/** A JSON column's value, or undefined when the stored text is not JSON (a damaged row reads as absent, never throws). */
export function parseStoredJson(text: string | null | undefined): unknown {
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
