/**
 * The startup crash scan writes all of its evidence or none of it: a write that fails midway
 * (injected by a temporary trigger, a real SQLite error mid-transaction) leaves the database as
 * it was, so the next boot's scan finds every run again. And over several sessions, several runs
 * each, from two gone boots, every run gets its own evidence: its own last output, its own tools.
 */
import { rmSync } from "node:fs"
import { afterEach, expect, test } from "vitest"
import type { RunSummary } from "../../src/provenance/schemas.ts"
import { scanForCrashes } from "../../src/session/run-observability/crash-scan.ts"
import { SessionStore } from "../../src/session/session-store.ts"
import { openDatabase, type DB } from "../../src/storage/database.ts"
import { Journal } from "../../src/storage/journal.ts"
import { tempDir } from "../harness.ts"

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const long = Date.now() - 3_600_000

/** Text outputs (time offsets after the run's start) per run; `prompt` is the user's text, never output. */
interface RunPlan {
  runId: string
  boot: "boot_old" | "boot_older"
  session: 0 | 1
  startedAt: number
  outputs: number[]
  prompt?: boolean
  emptyOutput?: boolean
  tool?: { callId: string; finished: boolean }
}

const PLANS: RunPlan[] = [
  // Outputs stored out of order, across two messages: the last is the latest time, not the last row.
  { runId: "run_a1", boot: "boot_older", session: 0, startedAt: long, outputs: [10, 40, 25], prompt: true },
  { runId: "run_a2", boot: "boot_older", session: 0, startedAt: long + 100, outputs: [], prompt: true },
  { runId: "run_a3", boot: "boot_old", session: 0, startedAt: long + 200, outputs: [5], emptyOutput: true },
  {
    runId: "run_b1",
    boot: "boot_old",
    session: 1,
    startedAt: long + 50,
    outputs: [70, 3],
    tool: { callId: "call_b1", finished: false },
  },
  { runId: "run_b2", boot: "boot_old", session: 1, startedAt: long + 150, outputs: [], emptyOutput: true },
  {
    runId: "run_b3",
    boot: "boot_older",
    session: 1,
    startedAt: long + 250,
    outputs: [1, 2, 90],
    tool: { callId: "call_b3", finished: true },
  },
]

/** A data dir two gone boots left with the runs of PLANS unfinished, plus one run the old boot finished. */
function crashedDataDir(): { dataDir: string; db: DB } {
  const dataDir = tempDir("oc-crashscan-atomic-")
  dirs.push(dataDir)
  const db = openDatabase(dataDir)
  for (const boot of ["boot_older", "boot_old"])
    db.prepare("INSERT INTO boot (id, pid, started_at, last_seen) VALUES (?, 2147483646, ?, ?)").run(boot, long, long)
  const sessions = [0, 1].map(
    (i) =>
      new SessionStore(db).createSession({ directory: `/w/${i}`, directoryKey: `/w/${i}`, projectID: "global" }).id,
  )
  // The older boot ran first; the next one's journal continues its sequence.
  for (const plan of [...PLANS].sort((a, b) => b.boot.length - a.boot.length)) {
    const journal = new Journal(db, plan.boot)
    const store = new SessionStore(db, plan.boot)
    const sessionId = sessions[plan.session]!
    const { runId, startedAt } = plan
    journal.append("run.started", { runId, sessionId }, { runId, sessionId, startedAt }, startedAt)
    store.insertRun({
      runId,
      sessionId,
      directoryKey: `/w/${plan.session}`,
      instanceId: "ins_a",
      generation: 1,
      model: "scripted/slow",
      bootId: plan.boot,
      startedAt,
    })
    if (plan.prompt) {
      // The user's prompt is stored after the run started: text, but never the run's output.
      const user = { id: `msg_${runId}_user`, sessionID: sessionId, role: "user" as const, runId, time: { created: 1 } }
      store.insertMessage(user)
      store.savePart(
        { id: `prt_${runId}_prompt`, messageID: user.id, sessionID: sessionId, type: "text", text: "secret prompt" },
        0,
        startedAt + 500,
      )
    }
    plan.outputs.forEach((offset, i) => {
      const message = {
        id: `msg_${runId}_${i % 2}`,
        sessionID: sessionId,
        role: "assistant" as const,
        runId,
        time: { created: startedAt + i },
      }
      store.insertMessage(message)
      store.savePart(
        { id: `prt_${runId}_${i}`, messageID: message.id, sessionID: sessionId, type: "text", text: `out ${i}` },
        i,
        startedAt + offset,
      )
      journal.append("run.visible_output", { runId, sessionId }, { runId, at: startedAt + offset }, startedAt + offset)
    })
    if (plan.emptyOutput) {
      const message = {
        id: `msg_${runId}_empty`,
        sessionID: sessionId,
        role: "assistant" as const,
        runId,
        time: { created: 1 },
      }
      store.insertMessage(message)
      store.savePart(
        { id: `prt_${runId}_empty`, messageID: message.id, sessionID: sessionId, type: "text", text: "" },
        9,
        startedAt + 800,
      )
    }
    if (plan.tool) {
      const { callId } = plan.tool
      journal.append(
        "tool.started",
        { runId, sessionId },
        { runId, callId, name: "write", kind: "write", startedAt: startedAt + 1 },
        startedAt + 1,
      )
      if (plan.tool.finished)
        journal.append("tool.finished", { runId, sessionId }, { runId, callId, status: "completed" }, startedAt + 2)
    }
  }
  return { dataDir, db }
}

/** Everything the scan could write: every run row, every journal row. */
function snapshot(db: DB): unknown {
  return {
    runs: db.prepare("SELECT * FROM run ORDER BY id").all(),
    journal: db.prepare("SELECT * FROM journal ORDER BY seq").all(),
  }
}

function summaries(db: DB): Map<string, RunSummary> {
  const rows = db.prepare("SELECT id, summary FROM run WHERE summary IS NOT NULL").all() as {
    id: string
    summary: string
  }[]
  return new Map(rows.map((row) => [row.id, JSON.parse(row.summary) as RunSummary]))
}

test.each([
  ["a run row's update", "BEFORE UPDATE ON main.run WHEN NEW.id = 'run_b1'"],
  ["a crash.detected row", "BEFORE INSERT ON main.journal WHEN NEW.kind = 'crash.detected' AND NEW.run_id = 'run_b2'"],
])("a failing write of %s midway leaves nothing written; the next scan writes it all", (_name, when) => {
  const { dataDir, db } = crashedDataDir()
  const before = snapshot(db)
  db.exec(`CREATE TEMP TRIGGER fail_midway ${when} BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`)
  const journal = new Journal(db, "boot_now")
  const sessions = new SessionStore(db, "boot_now")
  expect(() => scanForCrashes({ db, dataDir, journal, sessions })).toThrow(/injected write failure/)
  expect(snapshot(db)).toEqual(before)

  db.exec("DROP TRIGGER fail_midway")
  const found = scanForCrashes({ db, dataDir, journal, sessions })
  expect(found.map((crash) => crash.runId).sort()).toEqual(PLANS.map((plan) => plan.runId).sort())
  const crashRows = db.prepare("SELECT run_id FROM journal WHERE kind = 'crash.detected' ORDER BY run_id").all()
  expect(crashRows).toEqual(
    PLANS.map((plan) => ({ run_id: plan.runId })).sort((a, b) => a.run_id.localeCompare(b.run_id)),
  )
  expect(db.prepare("SELECT count(*) AS n FROM run WHERE finished_at IS NULL").get()).toEqual({ n: 0 })
  db.close()
})

test("several sessions, several runs each, from two gone boots: each run's evidence is its own", () => {
  const { dataDir, db } = crashedDataDir()
  const now = Date.now()
  const found = scanForCrashes({
    db,
    dataDir,
    journal: new Journal(db, "boot_now"),
    sessions: new SessionStore(db, "boot_now"),
    now,
  })
  const byRun = new Map(found.map((crash) => [crash.runId, crash]))
  const stored = summaries(db)
  for (const plan of PLANS) {
    const crash = byRun.get(plan.runId)!
    const summary = stored.get(plan.runId)!
    // The latest text the run itself answered; a prompt or an empty part is no output.
    const lastOutputAt = plan.outputs.length ? plan.startedAt + Math.max(...plan.outputs) : undefined
    const expectedTools = plan.tool
      ? [
          {
            callId: plan.tool.callId,
            name: "write",
            kind: "write",
            startedAt: plan.startedAt + 1,
            status: plan.tool.finished ? "completed" : "interrupted",
            ...(plan.tool.finished ? { completedAt: plan.startedAt + 2 } : {}),
          },
        ]
      : []
    expect({ runId: plan.runId, lastOutputAt: crash.lastOutputAt, tools: crash.tools }).toEqual({
      runId: plan.runId,
      lastOutputAt,
      tools: expectedTools,
    })
    expect(summary).toMatchObject({
      runId: plan.runId,
      sessionId: crash.sessionId,
      directoryKey: `/w/${plan.session}`,
      startedAt: plan.startedAt,
      finishedAt: now,
      classification: "process_exit_without_finalizer",
      visibleOutput: plan.outputs.length > 0,
      provider: { chunks: 0, progress: plan.outputs.length > 0, ...(lastOutputAt ? { lastOutputAt } : {}) },
      tools: expectedTools,
      missing: ["run_summary"],
    })
    expect(summary.provider.lastOutputAt).toBe(lastOutputAt)
    expect(crash.bootId).toBe(plan.boot)
  }
  // Each summary has its own sequence number, after its crash row's.
  const seqs = PLANS.map((plan) => stored.get(plan.runId)!.seq)
  expect(new Set(seqs).size).toBe(PLANS.length)
  db.close()
})
