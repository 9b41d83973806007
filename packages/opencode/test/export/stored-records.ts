/** Rows the export tests store directly, as a server on `/work/project` would have written them; two exports' texts compared. */
import type { RunSummary } from "../../src/provenance/schemas.ts"
import type { SessionStore } from "../../src/session/session-store.ts"
import type { DB } from "../../src/storage/database.ts"
import type { Journal } from "../../src/storage/journal.ts"
import { appRequest, clientAction, interruptedRun, lifecycleAction, requestContext } from "../provenance/records.ts"

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

/**
 * `count` runs of `ses_one`, each closed by a reload of its own through a request the app made
 * for a renderer action (`run_<tag>0000`, `lc_<tag>0`, `req_<tag>0`, `act_<tag>0`, …).
 */
export function insertReloadedRuns(
  { journal, sessions }: { journal: Journal; sessions: SessionStore },
  count: number,
  tag: string,
): void {
  for (let i = 0; i < count; i++) {
    const runId = `run_${tag}${String(i).padStart(4, "0")}`
    const request = appRequest({ requestId: `req_${tag}${i}`, actionId: `act_${tag}${i}` })
    const seq = 10 + 4 * i
    const action = lifecycleAction(`lc_${tag}${i}`, "reload", { kind: "api_route", request }, { runIds: [runId], seq })
    journal.append("renderer", {}, clientAction(`act_${tag}${i}`, "instance.reload", [`req_${tag}${i}`]))
    journal.append("request", {}, requestContext(request, seq - 1))
    journal.append("lifecycle.finished", { lifecycleId: action.lifecycleId }, action)
    insertRun(sessions, runId, 10_000 + i, interruptedRun(runId, action, { seq: seq + 1 }))
  }
}

/** An export's text with `exportedAt` (the only field that differs between two calls) set to 0. */
export const sameTime = (text: string) => text.replace(/"exportedAt": ?\d+/, '"exportedAt":0')
