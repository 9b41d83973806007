/**
 * One server per data dir. Two servers on one data dir would number journal rows from two
 * counters and interleave their sequences, so a server holds `<data dir>/server.lock` for its
 * whole life and a second one is refused with the dir and the holder's pid.
 *
 * The lock is SQLite's own file lock (an exclusive-mode connection that has written once keeps
 * its write lock until it closes): the operating system drops it when the process dies, however
 * it dies, so a lock left by a killed server is simply free again, and no pid guessing decides
 * whether a holder is alive. The holder's pid is the lock file's `user_version`, written in the
 * same transaction that takes the lock, and read by a refused server from the file header.
 */
import path from "node:path"
import Database from "better-sqlite3"
import { readRegularFileSync } from "../regular-file.ts"
import { createOwnerOnly, ensureDataDir, isStorageFault, storageFaultName, type DB } from "./database.ts"

const DATA_DIR_LOCK_FILE = "server.lock"

/** Thrown when another live process holds the data dir. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number | undefined,
  ) {
    super(
      `the data dir ${dataDir} is in use by another opencode server (${pid ? `pid ${pid}` : "pid unknown"}); ` +
        `stop it, or pass another --data-dir`,
    )
    this.name = "DataDirLockedError"
  }
}

interface DataDirLock {
  release(): void
}

/**
 * Takes the data dir for this process, or throws `DataDirLockedError`. Returns undefined when
 * the data dir cannot be written at all (read-only, no permission): nothing can be written
 * there either, so there is nothing to keep apart, and the database says what is degraded.
 *
 * @example const lock = lockDataDir(dataDir); try { serve() } finally { lock?.release() }
 */
export function lockDataDir(dataDir: string): DataDirLock | undefined {
  const file = path.join(dataDir, DATA_DIR_LOCK_FILE)
  let db: DB
  try {
    ensureDataDir(dataDir)
    createOwnerOnly(file)
    db = new Database(file, { timeout: 0 })
  } catch (err) {
    if (isStorageFault(err) || isFileSystemRefusal(err)) return undefined
    throw err
  }
  try {
    db.pragma("journal_mode = DELETE")
    db.pragma("locking_mode = EXCLUSIVE")
    db.exec("BEGIN EXCLUSIVE")
    db.pragma(`user_version = ${process.pid}`)
    db.exec("COMMIT")
  } catch (err) {
    db.close()
    const name = storageFaultName(err)
    if (name === "storage_locked") throw new DataDirLockedError(dataDir, holderPid(file))
    if (isStorageFault(err)) return undefined
    throw err
  }
  return {
    release() {
      if (db.open) db.close()
    },
  }
}

/** The holder's pid from the lock file's header (`user_version`, 4 bytes big-endian at offset 60). */
function holderPid(file: string): number | undefined {
  try {
    const header = readRegularFileSync(file, { maxBytes: 64, label: "server.lock", firstBytes: 64 })
    if (header.length < 64) return undefined
    const pid = header.readUInt32BE(60)
    return pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function isFileSystemRefusal(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === "EROFS" || code === "EACCES" || code === "EPERM" || code === "ENOENT"
}
