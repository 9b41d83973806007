/**
 * The startup crash scan survives damaged or oversized rows: a run whose model ref or tool facts
 * are longer than a record holds still becomes crash evidence (clamped, the dropped counted), a
 * row that cannot become evidence at all is skipped, and every other run keeps its evidence.
 * Before, one such row made the whole scan fail (`crash_scan_failed`) on every later boot.
 */
import { rmSync } from "node:fs"
import { afterEach, expect, test } from "vitest"
import { RunSummary } from "../../src/provenance/schemas.ts"
import { scanForCrashes } from "../../src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { openDatabase } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

test("oversized rows are clamped, an unusable row is skipped, and the others keep their evidence", () => {
  const dataDir = tempDir("oc-crashscan-bad-")
  dirs.push(dataDir)
  const db = openDatabase(dataDir)
  const long = Date.now() - 3_600_000
  db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES ('boot_gone', 2147483646, ?, ?)").run(long, long)
  const dead = new Journal(db, "boot_gone")
  const deadSessions = new SessionStore(db, "boot_gone")
  const session = deadSessions.createSession({ directory: "/w/a", directoryKey: "/w/a", projectID: "global" })
  const startRun = (runId: string, model: string, instanceId = "ins_a") => {
    dead.append("run.started", { runId, sessionId: session.id }, { runId, sessionId: session.id, startedAt: long })
    deadSessions.insertRun({
      runId,
      sessionId: session.id,
      directoryKey: "/w/a",
      instanceId,
      generation: 1,
      model,
      bootId: "boot_gone",
      startedAt: long,
    })
  }
  const tool = (runId: string, callId: string, name: string, kind: string) =>
    dead.append("tool.started", { runId, sessionId: session.id }, { runId, callId, name, kind, startedAt: long + 1 })

  // A model ref longer than a summary holds (the prompt route used to accept 64 + 1 + 128).
  startRun("run_longmodel", `openai/${"m".repeat(190)}`)
  // 70 tools started, the write last; and a tool name longer than a record holds.
  startRun("run_manytools", "scripted/slow")
  for (let i = 0; i < 69; i++) tool("run_manytools", `call_${i}`, "list", "read")
  tool("run_manytools", "call_69", "write", "write")
  startRun("run_longname", "scripted/slow")
  tool("run_longname", "call_x", "n".repeat(100), "read")
  // A row no record can hold: an instance id that is not one.
  startRun("run_broken", "scripted/slow", "not an instance id")
  // A key-shaped model ref (a prompt names any `openai/<text>`): the summary keeps the provider and a marker.
  startRun("run_keymodel", "openai/sk-cnrycrashmodel4f1a9b")
  // And an ordinary run.
  startRun("run_plain", "scripted/slow")

  const journal = new Journal(db, "boot_now")
  const found = scanForCrashes({ db, dataDir, journal, sessions: new SessionStore(db, "boot_now") })
  expect(found.map((crash) => crash.runId).sort()).toEqual([
    "run_keymodel",
    "run_longmodel",
    "run_longname",
    "run_manytools",
    "run_plain",
  ])

  const summaryOf = (runId: string) => {
    const row = db.prepare("SELECT summary FROM run WHERE id = ?").get(runId) as { summary: string | null }
    return row.summary === null ? undefined : RunSummary.parse(JSON.parse(row.summary))
  }
  expect(summaryOf("run_longmodel")).toMatchObject({ classification: "process_exit_without_finalizer" })
  expect(summaryOf("run_longmodel")!.model!.length).toBeLessThanOrEqual(128)
  expect(summaryOf("run_keymodel")!.model).toBe("openai/[redacted:model]")
  const many = summaryOf("run_manytools")!
  expect(many.tools).toHaveLength(64)
  expect(many.toolsDropped).toBe(6)
  expect(many.retry.safe).toBe(false)
  expect(found.find((crash) => crash.runId === "run_manytools")!.tools!.map((t) => t.kind)).toContain("write")
  expect(summaryOf("run_longname")!.tools[0]!.name.length).toBeLessThanOrEqual(64)
  expect(summaryOf("run_plain")).toMatchObject({
    classification: "process_exit_without_finalizer",
    missing: ["run_summary"],
  })
  // The unusable row is left as it was, not summarized with invented facts.
  expect(summaryOf("run_broken")).toBeUndefined()

  // A second boot finds nothing new to do and does not fail either.
  const again = new Journal(db, "boot_later")
  expect(
    scanForCrashes({ db, dataDir, journal: again, sessions: new SessionStore(db, "boot_later") }).map(
      (crash) => crash.runId,
    ),
  ).toEqual([])
  db.close()
})
