/**
 * `openDatabaseReadOnly`: the existing history, readable, every write refused as a storage
 * fault (`storage_read_only`). (The copy read into memory, for a read-only file system, is
 * covered through the server in storage-faults-http.test.ts.)
 */
import { rmSync } from "node:fs"
import { afterAll, describe, expect, test } from "vitest"
import { openDatabase, openDatabaseReadOnly, storageFaultName } from "../../src/storage/database.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function seeded(): string {
  const dataDir = tempDir("oc-ro-open-")
  dirs.push(dataDir)
  const db = openDatabase(dataDir)
  db.prepare("INSERT INTO meta (key, value) VALUES ('kept', 'yes')").run()
  db.close()
  return dataDir
}

function refusedWrite(db: ReturnType<typeof openDatabase>): string {
  try {
    db.prepare("INSERT INTO meta (key, value) VALUES ('new', 'no')").run()
    return "written"
  } catch (err) {
    return storageFaultName(err)
  }
}

describe("openDatabaseReadOnly", () => {
  test("in place, while a writer keeps the WAL: reads the history, refuses writes as storage_read_only", () => {
    const dataDir = seeded()
    const writer = openDatabase(dataDir)
    try {
      const db = openDatabaseReadOnly(dataDir)
      expect(db.readonly).toBe(true)
      expect(db.prepare("SELECT value FROM meta WHERE key = 'kept'").get()).toEqual({ value: "yes" })
      expect(refusedWrite(db)).toBe("storage_read_only")
      db.close()
    } finally {
      writer.close()
    }
  })

  test("a database of a newer version is an error, not an empty history", () => {
    const dataDir = seeded()
    const newer = openDatabase(dataDir)
    newer.pragma("user_version = 99")
    newer.close()
    expect(() => openDatabaseReadOnly(dataDir)).toThrow(/newer version/)
  })
})
