/**
 * The migration that adds the session's search key and its default-title mark: a database
 * written before it (schema 2) is searchable across scripts once opened by this build, and a
 * session still carrying the old default title ("New session - <ISO time>") is marked as
 * untitled, reads "New session", and is still named by its first prompt.
 */
import { rmSync } from "node:fs"
import Database from "better-sqlite3"
import path from "node:path"
import { afterAll, describe, expect, test } from "vitest"
import { openDatabase, schemaVersion } from "../../src/storage/database.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A data dir whose database is at schema 2, holding the given (title, updated) sessions as that schema stored them. */
function schema2DataDir(rows: [string, string][]): string {
  const dataDir = tempDir("oc-migrate-")
  dirs.push(dataDir)
  openDatabase(dataDir).close()
  const db = new Database(path.join(dataDir, "opencode.db"))
  db.exec(
    "CREATE TABLE session2 (id TEXT PRIMARY KEY, directory TEXT NOT NULL, directory_key TEXT NOT NULL, project_id TEXT NOT NULL, title TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL)",
  )
  db.exec(
    "DROP TABLE session; ALTER TABLE session2 RENAME TO session; CREATE INDEX session_directory ON session(directory_key, updated)",
  )
  // Schema 3's columns (a run's resend link, a part's write time) and schema 5's open actions did not exist at schema 2 either.
  db.exec("DROP INDEX message_run; ALTER TABLE run DROP COLUMN resend_of; ALTER TABLE part DROP COLUMN updated")
  db.exec("DROP TRIGGER lifecycle_opened; DROP TRIGGER lifecycle_closed; DROP TABLE lifecycle_open")
  db.pragma("user_version = 2")
  rows.forEach(([id, title], i) =>
    db.prepare("INSERT INTO session VALUES (?, '/p', '/p', 'global', ?, ?, ?)").run(id, title, 1000 + i, 1000 + i),
  )
  db.close()
  return dataDir
}

describe("migration to the folded search key", () => {
  test("existing titles are searchable in every script; old default titles read 'New session' and are still renamed by a first prompt", () => {
    const dataDir = schema2DataDir([
      ["ses_a", "Été à Paris"],
      ["ses_b", "ЖУРНАЛ сборки"],
      ["ses_c", "New session - 2026-01-02T03:04:05.678Z"],
      ["ses_d", "plain"],
    ])
    const db = openDatabase(dataDir)
    expect(schemaVersion(db)).toBeGreaterThan(2)
    const store = new SessionStore(db)
    const search = (text: string) => store.listSessionPage("/p", { limit: 10, search: text })!.sessions.map((s) => s.id)
    expect(search("ÉTÉ".normalize("NFD"))).toEqual(["ses_a"])
    expect(search("журнал")).toEqual(["ses_b"])
    expect(store.getSession("ses_c")!.title).toBe("New session")
    expect(store.titleFromPrompt("ses_c", "Name me")?.title).toBe("Name me")
    expect(search("name ME")).toEqual(["ses_c"])
    expect(store.titleFromPrompt("ses_d", "Not me")).toBeUndefined()
    db.close()
  })

  test("the searched listing reads the folded key through an index of the directory's sessions", () => {
    const dataDir = schema2DataDir([])
    const db = openDatabase(dataDir)
    const plan = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT id FROM session s WHERE s.directory_key = ? AND instr(s.title_key, ?) > 0 ORDER BY s.updated DESC, s.rowid DESC LIMIT 10",
      )
      .all("/p", "x") as { detail: string }[]
    expect(plan.map((row) => row.detail).join("\n")).toMatch(/USING INDEX session_search/)
    db.close()
  })
})
