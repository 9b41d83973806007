/**
 * Which stored records the export re-validates: records written by a boot of this build's record
 * format were parsed through their schemas when written and are read back as they are; records
 * of any other build (another format, or a boot that did not say) are parsed on read, and one
 * that does not fit its schema is left out rather than exported in a shape the schema forbids.
 */
import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { SessionExportDocument } from "../../src/provenance/export-document.ts"
import { recordFormat } from "../../src/provenance/node/record-format.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { openDatabase, schemaVersion } from "../../src/storage/database.ts"
import { tempDir } from "../harness.ts"
import { interruptedRun, lifecycleAction, plainRequest, requestContext } from "../provenance/records.ts"

let dataDir: string
let host: Host

const insertRow = (
  bootId: string,
  kind: string,
  links: { lifecycleId?: string; sessionId?: string },
  data: string,
  seq: number,
) =>
  host.db
    .prepare(
      "INSERT INTO journal (seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
    )
    .run(seq, 1, bootId, kind, links.lifecycleId ?? null, links.sessionId ?? null, data)

beforeAll(() => {
  dataDir = tempDir("oc-trust-")
  host = createHost({ dataDir, env: {} })
  host.db
    .prepare(
      "INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES ('boot_older', 1, 1, 1, 'older-build')",
    )
    .run()
  host.db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES ('boot_unsaid', 1, 1, 1)").run()
  host.db
    .prepare(
      "INSERT INTO session (id, directory, directory_key, project_id, title, created, updated) VALUES ('ses_t', '/w/p', '/w/p', 'global', 't', 1, 1)",
    )
    .run()

  // Three reloads, each interrupting one run: written by this server, by an older build, and by a boot with no format.
  const actions = ["lc_mine", "lc_older", "lc_unsaid"].map((id, i) =>
    lifecycleAction(
      id,
      "reload",
      { kind: "api_route", request: plainRequest({ requestId: `req_${id}` }) },
      { runIds: [`run_${id}`], seq: 10 + i },
    ),
  )
  host.journal.append("lifecycle.finished", { lifecycleId: "lc_mine" }, actions[0])
  insertRow("boot_older", "lifecycle.finished", { lifecycleId: "lc_older" }, JSON.stringify(actions[1]), 1_000)
  // Valid JSON, wrong shape: the older build's record lacks what this schema requires.
  const { directoryKeys: _dropped, ...shapeless } = actions[2]!
  insertRow("boot_unsaid", "lifecycle.finished", { lifecycleId: "lc_unsaid" }, JSON.stringify(shapeless), 1_001)
  host.journal.append("request", {}, requestContext(plainRequest({ requestId: "req_lc_mine" }), 5))
  insertRow(
    "boot_older",
    "request",
    {},
    JSON.stringify({ ...requestContext(plainRequest({ requestId: "req_lc_older" }), 6), method: 42 }),
    1_002,
  )

  for (const [i, action] of actions.entries()) {
    const runId = action.runIds[0]!
    host.sessions.insertRun({
      runId,
      sessionId: "ses_t",
      directoryKey: "/w/p",
      instanceId: "ins_t",
      generation: 1,
      model: "scripted/quick",
      bootId: host.bootId,
      startedAt: 100 + i,
    })
    host.sessions.finishRun(
      interruptedRun(runId, action, { sessionId: "ses_t", seq: 20 + i, startedAt: 100 + i, finishedAt: 200 + i }),
    )
  }
  // A summary stored by an older build, damaged in a way JSON still parses.
  host.sessions.insertRun({
    runId: "run_old",
    sessionId: "ses_t",
    directoryKey: "/w/p",
    instanceId: "ins_t",
    generation: 1,
    model: "scripted/quick",
    bootId: "boot_older",
    startedAt: 90,
  })
  host.sessions.finishRun(
    interruptedRun("run_old", actions[0]!, { sessionId: "ses_t", seq: 5, startedAt: 90, finishedAt: 95 }),
  )
  host.db
    .prepare(
      "UPDATE run SET summary_boot = 'boot_older', summary = json_set(summary, '$.classification', 'exploded') WHERE id = 'run_old'",
    )
    .run()
})

afterAll(() => {
  host.close()
  rmSync(dataDir, { recursive: true, force: true })
})

describe("records the export re-validates", () => {
  test("a server's boot row names its record format; only boots of this format are trusted", () => {
    expect(host.db.prepare("SELECT record_format AS f FROM boot WHERE id = ?").get(host.bootId)).toEqual({
      f: recordFormat(),
    })
    expect([...host.journal.bootsWithFormat(recordFormat())]).toEqual([host.bootId])
    expect(recordFormat()).toMatch(/^[0-9a-f]{16}$/)
  })

  test("another build's records are parsed on read: ones that fit are kept, ones that do not are left out", () => {
    const doc = buildSessionExport(host, "ses_t", "diagnostics")!
    expect(SessionExportDocument.parse(doc)).toEqual(doc)
    // This build's action and the older build's well-formed one are there; the shapeless one is not.
    expect(doc.diagnostics.lifecycle.map((a) => a.lifecycleId)).toEqual(["lc_mine", "lc_older"])
    // The older build's request with a numeric method does not fit: left out, so its chain names no request record.
    expect(doc.diagnostics.requests.map((r) => r.requestId)).toEqual(["req_lc_mine"])
    // The older build's damaged summary is not exported; this server's summaries are.
    expect(doc.diagnostics.runs.map((r) => r.runId).sort()).toEqual(["run_lc_mine", "run_lc_older", "run_lc_unsaid"])
    const verdicts = Object.fromEntries(doc.incidents.map((c) => [c.runId, c.classification]))
    expect(verdicts.run_lc_mine).toBe("local_instance_reload")
    // The run whose action record was left out still has its chain: the cause travels in the run's own summary.
    expect(verdicts.run_lc_unsaid).toBe("local_instance_reload")
    expect(verdicts.run_old).toBeUndefined()
  })

  test("a damaged record of this build (text that is not JSON) reads as absent, never as a record", () => {
    host.db.prepare("UPDATE journal SET data = '{\"lifecycleId\": [trunc' WHERE lifecycle_id = 'lc_mine'").run()
    const doc = buildSessionExport(host, "ses_t", "diagnostics")!
    expect(SessionExportDocument.parse(doc)).toEqual(doc)
    expect(doc.diagnostics.lifecycle.map((a) => a.lifecycleId)).toEqual(["lc_older"])
  })

  test("a schema 1 database migrates to the current schema, and its old boots are not trusted", () => {
    const dir = tempDir("oc-trust-v1-")
    try {
      // Take a fresh database back to schema 1, with a boot and a run as version 1 wrote them.
      const old = openDatabase(dir)
      old.exec(`DROP TRIGGER lifecycle_opened; DROP TRIGGER lifecycle_closed; DROP TABLE lifecycle_open;
        DROP INDEX session_search; ALTER TABLE session DROP COLUMN title_key; ALTER TABLE session DROP COLUMN title_default;
        CREATE INDEX session_directory ON session(directory_key, updated);
        DROP INDEX message_run; ALTER TABLE run DROP COLUMN resend_of; ALTER TABLE part DROP COLUMN updated;
        DROP INDEX journal_request_id; DROP INDEX journal_renderer_action_id;
        ALTER TABLE boot DROP COLUMN record_format; ALTER TABLE run DROP COLUMN summary_boot; PRAGMA user_version = 1;
        INSERT INTO boot (id, pid, started_at, last_seen) VALUES ('boot_v1', 1, 1, 1);`)
      old.close()
      const db = openDatabase(dir)
      expect(schemaVersion(db)).toBe(5)
      expect(db.prepare("SELECT id, record_format FROM boot").all()).toEqual([{ id: "boot_v1", record_format: null }])
      expect(
        db
          .prepare(
            "SELECT count(*) AS n FROM sqlite_master WHERE name IN ('journal_request_id', 'journal_renderer_action_id', 'message_run')",
          )
          .get(),
      ).toEqual({ n: 3 })
      // Schema 3: a run's resend link and a part's write time, both empty for rows written before.
      expect(db.prepare("SELECT count(*) AS n FROM pragma_table_info('run') WHERE name = 'resend_of'").get()).toEqual({
        n: 1,
      })
      expect(db.prepare("SELECT count(*) AS n FROM pragma_table_info('part') WHERE name = 'updated'").get()).toEqual({
        n: 1,
      })
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
