/** Rows the export tests store directly, as a server on `/work/project` would have written them; two exports' texts compared. */
import type { RunSummary } from "../../src/provenance/schemas.ts"
import type { SessionStore } from "../../src/session/session-store.ts"
import type { DB } from "../../src/storage/database.ts"

/** A session row on `/work/project`. */
export function insertSession(db: DB, id: string): void {
  db.prepare(
    "INSERT INTO session (id, directory, directory_key, project_id, title, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
  ).run(id, "/work/project", "/work/project", "prj_one", "t", 1, 1)
}

/** A run of `ses_one` started at `startedAt`, finished with `summary` when there is one. */
export function insertRun(sessions: SessionStore, runId: string, startedAt: number, summary?: RunSummary): void {
  sessions.insertRun({
    runId,
    sessionId: "ses_one",
    directoryKey: "/work/project",
    instanceId: "ins_one",
    generation: 1,
    model: "scripted/quick",
    bootId: "boot_a",
    startedAt,
  })
  if (summary) sessions.finishRun(summary)
}

/** An export's text with `exportedAt` (the only field that differs between two calls) set to 0. */
export const sameTime = (text: string) => text.replace(/"exportedAt": ?\d+/, '"exportedAt":0')
