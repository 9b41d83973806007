/**
 * Real diagnostic records to clone: one run interrupted by a `POST /instance/reload` sent by
 * the app (with an action id), produced by the real server, then read back from its database.
 * The seeders copy these rows with fresh ids, so every cloned record has the exact shape the
 * server writes.
 */
import { startServer } from "../packages/opencode/src/server/server.ts"
import { newId } from "../packages/opencode/src/id.ts"
import { recordFormat } from "../packages/opencode/src/provenance/node/record-format.ts"
import { openDatabase } from "../packages/opencode/src/storage/database.ts"
import { Journal } from "../packages/opencode/src/storage/journal.ts"
import type { JournalKind } from "../packages/opencode/src/storage/journal-queries.ts"
import type { DB } from "../packages/opencode/src/storage/database.ts"
import { SessionStore } from "../packages/opencode/src/session/session-store.ts"
import { tempDir } from "./lib.ts"

export interface RunTemplate {
  /** The run row's summary (JSON text). */
  summary: string
  rows: { kind: JournalKind; runId?: string; lifecycleId?: string; sessionId?: string; data: string }[]
  ids: { runId: string; sessionId: string; lifecycleId: string; requestIds: string[] }
  run: { instanceId: string; generation: number; model: string; directoryKey: string }
}

export async function captureRunTemplate(): Promise<RunTemplate> {
  const project = tempDir("oc-bench-tpl-")
  const running = await startServer({
    port: 0,
    hostname: "127.0.0.1",
    dataDir: tempDir("oc-bench-tpl-data-"),
    defaultDirectory: project,
    scriptedTickMs: 20,
    env: {},
  })
  const headers = {
    "content-type": "application/json",
    "x-opencode-directory": encodeURIComponent(project),
    "x-opencode-client": "app/0.1.0",
  }
  const call = async (route: string, body: unknown, extra: Record<string, string> = {}) => {
    const res = await fetch(running.url + route, {
      method: "POST",
      headers: { ...headers, ...extra },
      body: JSON.stringify(body),
    })
    return { res, body: res.status === 204 ? undefined : await res.json() }
  }
  try {
    const session = (await call("/session", { title: "template" })).body as { id: string }
    await call(
      `/session/${session.id}/prompt_async`,
      { text: "interrupt me", model: "scripted/slow" },
      { "x-opencode-action-id": "act_bench_prompt", "x-opencode-action-name": "session.prompt" },
    )
    await new Promise((r) => setTimeout(r, 100))
    const reload = await call(
      "/instance/reload",
      {},
      { "x-opencode-action-id": "act_bench_reload", "x-opencode-action-name": "instance.reload" },
    )
    const lifecycleId = reload.res.headers.get("x-opencode-lifecycle-id")!
    const { db } = running.host
    let runRow:
      | {
          id: string
          summary: string | null
          instance_id: string
          generation: number
          model: string
          directory_key: string
        }
      | undefined
    for (let i = 0; i < 100 && !runRow?.summary; i++) {
      await new Promise((r) => setTimeout(r, 20))
      runRow = db.prepare("SELECT * FROM run WHERE session_id = ?").get(session.id) as typeof runRow
    }
    if (!runRow?.summary) throw new Error("template run did not finish")
    const raw = db
      .prepare(
        "SELECT * FROM journal WHERE run_id = ? OR lifecycle_id = ? OR session_id = ? OR kind = 'request' ORDER BY seq",
      )
      .all(runRow.id, lifecycleId, session.id) as {
      kind: JournalKind
      run_id: string | null
      lifecycle_id: string | null
      session_id: string | null
      data: string
    }[]
    // Keep the requests of this incident (the prompt and the reload); drop the session's creation.
    const rows = raw
      .filter((r) => r.kind !== "request" || /prompt_async|instance\/reload/.test(r.data))
      .map((r) => ({
        kind: r.kind,
        ...(r.run_id ? { runId: r.run_id } : {}),
        ...(r.lifecycle_id ? { lifecycleId: r.lifecycle_id } : {}),
        ...(r.session_id ? { sessionId: r.session_id } : {}),
        data: r.data,
      }))
    const requestIds = rows
      .filter((r) => r.kind === "request")
      .map((r) => (JSON.parse(r.data) as { requestId: string }).requestId)
    // The renderer's own record of the reload action, as the app uploads it (POST /diagnostics/renderer).
    const reloadRequest = rows.find((r) => r.kind === "request" && r.data.includes("/instance/reload"))
    const reloadRequestId = reloadRequest
      ? (JSON.parse(reloadRequest.data) as { requestId: string }).requestId
      : requestIds[0]!
    rows.push({
      kind: "renderer",
      data: JSON.stringify({
        actionId: "act_bench_reload",
        name: "instance.reload",
        page: "/session/:id",
        time: Date.now(),
        requestIds: [reloadRequestId],
        outcome: "ok",
      }),
    })
    return {
      summary: runRow.summary,
      rows,
      ids: { runId: runRow.id, sessionId: session.id, lifecycleId, requestIds },
      run: {
        instanceId: runRow.instance_id,
        generation: runRow.generation,
        model: runRow.model,
        directoryKey: runRow.directory_key,
      },
    }
  } finally {
    await running.shutdown("api")
  }
}

/**
 * A data dir with one empty session in the template's directory, as the seeding "server" writes
 * it: a boot row with this build's record format (as `createHost` writes it), so the export reads
 * the seeded records as its own.
 */
export function openBenchSession(dataDir: string, template: RunTemplate) {
  const db = openDatabase(dataDir)
  const bootId = newId("boot")
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES (?, ?, ?, ?, ?)").run(
    bootId,
    process.pid,
    Date.now(),
    Date.now(),
    recordFormat(),
  )
  const journal = new Journal(db, bootId)
  const sessions = new SessionStore(db, bootId)
  const session = sessions.createSession({
    directory: template.run.directoryKey,
    directoryKey: template.run.directoryKey,
    projectID: "global",
    title: "bench",
  })
  return { db, bootId, journal, sessions, sessionId: session.id }
}

/** Replaces every id of the template with a fresh one (same prefix), in one pass over the text. */
export function cloneIds(
  template: RunTemplate,
  sessionId: string,
): { map: Map<string, string>; apply: (text: string) => string } {
  const map = new Map<string, string>([
    [template.ids.runId, newId("run")],
    [template.ids.sessionId, sessionId],
    [template.ids.lifecycleId, newId("lc")],
    ...template.ids.requestIds.map((id) => [id, newId("req")] as [string, string]),
    ["act_bench_prompt", `act_${newId("req").slice(4)}`],
    ["act_bench_reload", `act_${newId("req").slice(4)}`],
  ])
  const pattern = new RegExp([...map.keys()].join("|"), "g")
  return { map, apply: (text) => text.replace(pattern, (m) => map.get(m)!) }
}

/** Diagnostic records written per seeded run: its summary and the template's journal rows. */
export function recordsPerRun(template: RunTemplate): number {
  return template.rows.length + 1
}

/**
 * Seeds `runs` interrupted runs (two messages each, with their journal rows and summaries) into
 * one session, through the SessionStore and Journal APIs, in one transaction.
 */
export function seedSession(args: {
  template: RunTemplate
  sessions: SessionStore
  journal: Journal
  db: import("better-sqlite3").Database
  sessionId: string
  runs: number
}): void {
  const { template, sessions, journal, db, sessionId } = args
  const seed = db.transaction(() => {
    for (let i = 0; i < args.runs; i++) {
      const clone = cloneIds(template, sessionId)
      const runId = clone.map.get(template.ids.runId)!
      const startedAt = Date.now()
      sessions.insertRun({
        runId,
        sessionId,
        directoryKey: template.run.directoryKey,
        instanceId: template.run.instanceId,
        generation: template.run.generation,
        model: template.run.model,
        bootId: journal.bootId,
        startedAt,
      })
      for (const [role, text] of [
        ["user", "interrupt me"],
        ["assistant", "Working on step 1 of 60.\n"],
      ] as const) {
        const message = sessions.createMessage({ sessionID: sessionId, role, runId })
        sessions.savePart({ id: newId("prt"), sessionID: sessionId, messageID: message.id, type: "text", text }, 0)
      }
      for (const row of template.rows) {
        const data = JSON.parse(clone.apply(row.data)) as { seq?: number }
        if (typeof data.seq === "number") data.seq = journal.nextSeq()
        const links = {
          runId: row.runId && clone.map.get(row.runId),
          lifecycleId: row.lifecycleId && clone.map.get(row.lifecycleId),
          sessionId: row.sessionId && clone.map.get(row.sessionId),
        }
        journal.append(row.kind, links, data)
      }
      const summary = JSON.parse(clone.apply(template.summary)) as { seq: number }
      summary.seq = journal.nextSeq()
      sessions.finishRun(summary as never)
    }
  })
  seed()
}

/** The journal kinds the export reads. */
const EXPORT_READ_KINDS = [
  "lifecycle.started",
  "lifecycle.finished",
  "request",
  "renderer",
  "crash.detected",
  "remote.chain",
]

/**
 * The export's floor: the rows it reads (the session's messages with their parts, its run
 * summaries, every journal row of the kinds it reads), read from SQLite in one pass each as raw
 * arrays, with no object built and nothing chosen. Call each with `{ sessionId }`.
 */
export function exportFloorStatements(db: DB) {
  return [
    db
      .prepare(
        `SELECT m.id, m.role, m.created, m.completed, m.run_id, m.provider_id, m.model_id, p.id, p.type, p.text, p.data
         FROM message m LEFT JOIN part p ON p.message_id = m.id AND p.session_id = m.session_id
         WHERE m.session_id = @sessionId ORDER BY m.created, m.rowid, p.ord`,
      )
      .raw(true),
    db.prepare("SELECT id, summary, summary_boot FROM run WHERE session_id = @sessionId ORDER BY started_at").raw(true),
    db
      .prepare(
        `SELECT kind, data FROM journal WHERE kind IN (${EXPORT_READ_KINDS.map((k) => `'${k}'`).join(", ")}) AND @sessionId IS NOT NULL`,
      )
      .raw(true),
  ]
}
