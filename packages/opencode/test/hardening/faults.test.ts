/**
 * Faults the server must survive: its database locked by another process, a full disk, a
 * read-only data dir, a truncated or corrupt database at start, an SSE client that stops
 * reading, and a provider that hangs or drops mid-stream. In each case the server keeps serving,
 * says what is degraded in `/health`, finishes runs with exactly one summary, and recovers when
 * the fault clears: a journal row that could not be written is written later or counted as lost.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process"
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs"
import http from "node:http"
import path from "node:path"
import { promisify } from "node:util"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import type { SequencedEvent } from "../../src/bus/index.ts"
import { startFakeOpenAI, startEventStream, sendEvent, textChunk } from "../export/fake-openai.ts"
import { countSubscriptions, sseFrames, startTestServer, tempDir, waitFor, type TestServer } from "../harness.ts"

const open: TestServer[] = []
const mounts: string[] = []
afterEach(async () => {
  for (const server of open.splice(0)) await server.close()
})
afterAll(() => {
  for (const dir of mounts.splice(0)) {
    try {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" })
    } catch {
      // already gone
    }
  }
})

async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options)
  open.push(s)
  return s
}

/** The first `run.finished` event of a run, captured in-process (what `/event` would carry). */
function finishedEvents(s: TestServer): Map<string, Extract<SequencedEvent, { type: "run.finished" }>> {
  const seen = new Map<string, Extract<SequencedEvent, { type: "run.finished" }>>()
  s.running.host.bus.subscribe((event) => {
    if (event.type === "run.finished") seen.set(event.properties.summary.runId, event)
  })
  return seen
}

async function prompt(s: TestServer, directory: string, sessionId: string, model: string): Promise<string> {
  const res = await s.call("POST", `/session/${sessionId}/prompt`, { directory, body: { text: "go", model } })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.runId
}

function journalCounts(s: TestServer, runId: string): { started: number; finished: number } {
  const rows = s.running.host.db
    .prepare("SELECT kind, count(*) AS n FROM journal WHERE run_id = ? GROUP BY kind")
    .all(runId) as { kind: string; n: number }[]
  const of = (kind: string) => rows.find((row) => row.kind === kind)?.n ?? 0
  return { started: of("run.started"), finished: of("run.finished") }
}

function canMount(): boolean {
  const probe = tempDir("oc-mount-probe-")
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" })
    execFileSync("umount", [probe], { stdio: "ignore" })
    return true
  } catch {
    return false
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}
const MOUNT = process.platform === "linux" && process.getuid?.() === 0 && canMount()

/** Another process holding `BEGIN EXCLUSIVE` on the data dir's database until told to commit. */
async function lockDatabase(dataDir: string): Promise<{ release(): Promise<void>; proc: ChildProcess }> {
  const script = `
    const Database = require("better-sqlite3")
    const db = new Database(process.argv[1], { timeout: 5000 })
    db.exec("BEGIN EXCLUSIVE")
    db.prepare("INSERT INTO meta (key, value) VALUES ('locker', '1') ON CONFLICT(key) DO UPDATE SET value = value || '1'").run()
    process.stdout.write("locked\\n")
    process.stdin.on("data", () => { db.exec("COMMIT"); db.close(); process.stdout.write("released\\n"); process.exit(0) })
  `
  const proc = spawn(process.execPath, ["-e", script, path.join(dataDir, "opencode.db")], {
    cwd: path.resolve(import.meta.dirname, ".."),
    stdio: ["pipe", "pipe", "inherit"],
  })
  let out = ""
  proc.stdout!.on("data", (chunk) => (out += chunk))
  await waitFor(() => out.includes("locked"), 10_000)
  return {
    proc,
    async release() {
      proc.stdin!.write("go\n")
      await waitFor(() => out.includes("released"), 10_000)
    },
  }
}

describe("the database locked by another process", () => {
  it("keeps serving, finishes the run from memory, reports storage_locked, and writes the backlog once the lock is gone", async () => {
    const s = await server({ tickMs: 5 })
    const dir = s.project()
    const finished = finishedEvents(s)
    const session = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(session.status).toBe(200)

    const lock = await lockDatabase(s.dataDir)
    let released = false
    try {
      const runId = await prompt(s, dir, session.body.id, "scripted/quick")
      await waitFor(() => finished.has(runId), 15_000)
      // The summary is in memory and on the event stream, though the disk refused it.
      expect((finished.get(runId)!.properties.summary as { classification: string }).classification).toBe("completed")
      const health = await s.call("GET", "/health")
      expect(health.status).toBe(200)
      expect(health.body.degraded).toEqual(expect.arrayContaining(["storage_locked", "journal_backlog"]))
      expect(s.running.host.health().journal.backlog).toBeGreaterThan(0)
      // Reads still work, and the journal's readers see the rows not yet written.
      expect(s.running.host.journal.rows({ runIds: [runId] }).map((row) => row.kind)).toEqual(
        expect.arrayContaining(["run.started", "run.finished"]),
      )
      expect(journalCounts(s, runId)).toEqual({ started: 0, finished: 0 })

      await lock.release()
      released = true
      await waitFor(() => s.running.host.health().journal.backlog === 0, 10_000)
      expect(journalCounts(s, runId)).toEqual({ started: 1, finished: 1 })
      const runs = await s.call("GET", `/session/${session.body.id}/run`)
      expect(runs.body.find((run: any) => run.runId === runId)?.summary?.classification).toBe("completed")
      const after = await s.call("GET", "/health")
      expect(after.body.degraded).toBeUndefined()
      expect(s.running.host.health().journal).toMatchObject({ lost: 0, backlog: 0 })
      expect(s.running.host.health().journal.lastFault?.name).toBe("storage_locked")
    } finally {
      if (!released) await lock.release().catch(() => lock.proc.kill("SIGKILL"))
    }
  })
})

describe.skipIf(!MOUNT)("a full disk (tmpfs)", () => {
  it("finishes runs with their summary in memory, reports storage_full, and recovers without losing a record when space returns", async () => {
    const mount = tempDir("oc-full-")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mount])
    mounts.push(mount)
    const dataDir = path.join(mount, "data")
    mkdirSync(dataDir)
    const s = await server({ tickMs: 5, dataDir })
    const dir = s.project()
    const finished = finishedEvents(s)
    const session = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(session.status).toBe(200)

    // Fill the file system to the last byte.
    const filler = path.join(mount, "filler")
    const fd = openSync(filler, "w")
    const block = Buffer.alloc(64 * 1024, 1)
    try {
      for (let size = block.length; size >= 1;) {
        try {
          writeSync(fd, block, 0, size)
        } catch {
          size = Math.floor(size / 2)
        }
      }
    } finally {
      closeSync(fd)
    }

    const runIds: string[] = []
    for (let i = 0; i < 3; i++) {
      const runId = await prompt(s, dir, session.body.id, "scripted/quick")
      runIds.push(runId)
      await waitFor(() => finished.has(runId), 15_000)
    }
    for (const runId of runIds)
      expect((finished.get(runId)!.properties.summary as { classification: string }).classification).toBe("completed")
    const health = await s.call("GET", "/health")
    expect(health.status).toBe(200)
    expect(health.body.degraded).toContain("storage_full")
    // A new session needs the disk: refused with a clear 503, not a 500.
    const refused = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe("storage_unavailable")

    rmSync(filler)
    await waitFor(() => s.running.host.health().journal.backlog === 0, 10_000)
    for (const runId of runIds) expect(journalCounts(s, runId)).toEqual({ started: 1, finished: 1 })
    const runs = await s.call("GET", `/session/${session.body.id}/run`)
    expect(
      runs.body
        .filter((run: any) => run.summary?.classification === "completed")
        .map((run: any) => run.runId)
        .sort(),
    ).toEqual([...runIds].sort())
    const messages = await s.call("GET", `/session/${session.body.id}/message`)
    expect(
      messages.body.filter(
        (m: any) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
      ),
    ).toHaveLength(3)
    expect((await s.call("GET", "/health")).body.degraded).toBeUndefined()
    expect(s.running.host.health().journal.lost).toBe(0)
  })
})

describe.skipIf(!MOUNT)("a read-only data dir (read-only bind mount; chmod does not stop root)", () => {
  it("opens the earlier database read-only, says storage_read_only, and refuses new records with a 503", async () => {
    const dataDir = tempDir("oc-ro-")
    // A database from an earlier run, so the read-only mount has something to refuse writes to.
    const first = await startTestServer({ dataDir })
    await first.close()
    execFileSync("mount", ["--bind", dataDir, dataDir])
    mounts.push(dataDir)
    execFileSync("mount", ["-o", "remount,ro,bind", dataDir])
    expect(() => writeFileSync(path.join(dataDir, "probe"), "x")).toThrow(/EROFS|read-only/i)

    const s = await server({ tickMs: 5, dataDir })
    const health = await s.call("GET", "/health")
    expect(health.status).toBe(200)
    expect(health.body.degraded).toContain("storage_read_only")
    // The history stays readable (test/storage/storage-faults-http.test.ts lists it); writes are refused.
    const session = await s.call("POST", "/session", { directory: s.project(), body: {} })
    expect(session.status).toBe(503)
    expect(session.body.error).toMatchObject({ code: "storage_unavailable", degraded: ["storage_read_only"] })
  })
})

describe("a truncated or corrupt database at start", () => {
  async function seeded(): Promise<string> {
    const dataDir = tempDir("oc-corrupt-")
    const s = await startTestServer({ dataDir, tickMs: 5 })
    const dir = s.project()
    for (let i = 0; i < 40; i++)
      await s.call("POST", "/session", { directory: dir, body: { title: `session ${i} ${"x".repeat(200)}` } })
    await s.close()
    return dataDir
  }

  it.each([
    [
      "garbage in place of the database",
      (dataDir: string) => writeFileSync(path.join(dataDir, "opencode.db"), Buffer.alloc(64 * 1024, 0x5a)),
    ],
    [
      "a database truncated to a third",
      (dataDir: string) =>
        truncateSync(
          path.join(dataDir, "opencode.db"),
          Math.floor(readFileSync(path.join(dataDir, "opencode.db")).length / 3),
        ),
    ],
    [
      "an empty-header database",
      (dataDir: string) => {
        const fd = openSync(path.join(dataDir, "opencode.db"), "r+")
        writeSync(fd, Buffer.alloc(100, 0), 0, 100, 0)
        closeSync(fd)
      },
    ],
  ])("%s: moved aside, a fresh database, degraded database_recovered", async (_name, damage) => {
    const dataDir = await seeded()
    damage(dataDir)
    const s = await server({ dataDir, tickMs: 5 })
    const health = await s.call("GET", "/health")
    expect(health.status).toBe(200)
    expect(health.body.degraded).toContain("database_recovered")
    expect(readdirSync(dataDir).some((name) => name.startsWith("opencode.db.corrupt-"))).toBe(true)
    const dir = s.project()
    const session = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(session.status).toBe(200)
    const finished = finishedEvents(s)
    const runId = await prompt(s, dir, session.body.id, "scripted/quick")
    await waitFor(() => finished.has(runId), 10_000)
    expect(journalCounts(s, runId)).toEqual({ started: 1, finished: 1 })
  })

  it("a garbage WAL is ignored by SQLite: the history is intact and nothing is degraded", async () => {
    const dataDir = await seeded()
    writeFileSync(path.join(dataDir, "opencode.db-wal"), Buffer.alloc(32 * 1024, 0xa5))
    const s = await server({ dataDir, tickMs: 5 })
    const health = await s.call("GET", "/health")
    expect(health.body.degraded).toBeUndefined()
    const count = s.running.host.db.prepare("SELECT count(*) AS n FROM session").get() as { n: number }
    expect(count.n).toBe(40)
  })

  it("corrupt JSON inside a journal row does not stop the export of the session", async () => {
    const s = await server({ tickMs: 5 })
    const dir = s.project()
    const session = await s.call("POST", "/session", { directory: dir, body: {} })
    const finished = finishedEvents(s)
    const runId = await prompt(s, dir, session.body.id, "scripted/quick")
    await waitFor(() => finished.has(runId))
    s.running.host.db.prepare("UPDATE journal SET data = '{\"runId\": [truncated' WHERE run_id = ?").run(runId)
    s.running.host.db.prepare("UPDATE run SET summary = '{not json' WHERE id = ?").run(runId)
    const exported = await s.call("GET", `/session/${session.body.id}/export`)
    expect(exported.status).toBe(200)
    expect(exported.body.schema).toBe("opencode.session-export")
  })
})

describe("an SSE client that stops reading", () => {
  it("is cut off (socket destroyed, subscription dropped) while a reading client keeps every event", async () => {
    const s = await server()
    const bus = s.running.host.bus
    const url = new URL(s.url + "/event")
    const live = countSubscriptions(bus)
    const cutOff = async () => (await s.call("GET", "/health")).body.events.cutOff as number
    const connected = async () => (await s.call("GET", "/health")).body.events.connected as number
    const cutBefore = await cutOff()

    // The reader: counts flood events as they arrive.
    let readerFlood = 0
    let readerLast = -1
    const reader = http.get(url, (res) => {
      res.setEncoding("utf8")
      res.on(
        "data",
        sseFrames((event) => {
          if (event.type === "test.flood") {
            readerFlood++
            readerLast = event.properties.n
          }
        }),
      )
    })
    // The stalled client: takes the response, then never reads another byte.
    let stalledClosed = false
    let stalledRes: http.IncomingMessage | undefined
    const stalled = http.get(url, (res) => {
      stalledRes = res
      res.pause()
      res.socket.on("close", () => (stalledClosed = true))
    })
    stalled.on("error", () => {})
    reader.on("error", () => {})
    // The clients on sockets share one subscription of the route's, held while any is connected.
    await waitFor(async () => (await connected()) === 2)
    expect(live()).toBe(1)

    const blob = "x".repeat(16 * 1024)
    const total = 3000
    for (let n = 0; n < total; n++) {
      // An event the wire does not define: the bus is typed for production callers only.
      bus.publish({ type: "test.flood", properties: { n, blob } } as never)
      if (n % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 40))
    }
    await waitFor(async () => (await cutOff()) > cutBefore, 15_000)
    // A paused socket cannot see the close; once it reads again it finds the connection gone.
    stalledRes!.on("error", () => {})
    stalledRes!.resume()
    await waitFor(() => stalledClosed, 15_000)
    await waitFor(() => readerLast === total - 1, 20_000)
    expect(readerFlood).toBe(total)
    expect(await connected()).toBe(1)
    expect(live()).toBe(1)
    // The server still serves, and the reader still gets new events.
    expect((await s.call("GET", "/health")).status).toBe(200)
    bus.publish({ type: "test.flood", properties: { n: total, blob: "" } } as never)
    await waitFor(() => readerLast === total)
    reader.destroy()
    await waitFor(() => live() === 0)
  })

  it("is not cut off for a replay it asked for: a reconnect over the bound gets every missed event and the live ones after", async () => {
    const s = await server()
    const bus = s.running.host.bus
    const cutOff = async () => (await s.call("GET", "/health")).body.events.cutOff as number
    const cutBefore = await cutOff()
    const since = bus.positionId
    // What a client missed while away: the whole replay buffer, many times a client's byte bound.
    const blob = "x".repeat(8 * 1024)
    const missed = 2000
    for (let n = 0; n < missed; n++) bus.publish({ type: "test.flood", properties: { n, blob } } as never)

    let last = -1
    let flood = 0
    let closed = false
    let connected = false
    const req = http.get(s.url + "/event", { headers: { "last-event-id": since } }, (res) => {
      res.setEncoding("utf8")
      res.on("close", () => (closed = true))
      res.on(
        "data",
        sseFrames((event) => {
          if (event.type === "server.connected") connected = true
          if (event.type === "test.flood") {
            flood++
            last = event.properties.n
          }
        }),
      )
    })
    req.on("error", () => {})
    await waitFor(() => connected)
    // Live events while the replay is still queued for the client: they count against the bound, the replay does not.
    for (let n = missed; n < missed + 20; n++) bus.publish({ type: "test.flood", properties: { n, blob: "" } } as never)
    await waitFor(() => last === missed + 19 || closed, 20_000)
    expect(closed).toBe(false)
    expect(flood).toBe(missed + 20)
    expect(await cutOff()).toBe(cutBefore)

    // The same replay to a client that then stops reading: the bounds still apply past it.
    let stalledClosed = false
    const stalled = http.get(s.url + "/event", { headers: { "last-event-id": since } }, (res) => {
      res.pause()
      res.socket.on("close", () => (stalledClosed = true))
      res.on("error", () => {})
    })
    stalled.on("error", () => {})
    await waitFor(async () => (await s.call("GET", "/health")).body.events.connected === 2)
    for (let n = missed + 20; !stalledClosed && n < missed + 20 + 3000; n++) {
      bus.publish({ type: "test.flood", properties: { n, blob: "x".repeat(16 * 1024) } } as never)
      if (n % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 40))
    }
    await waitFor(async () => (await cutOff()) === cutBefore + 1, 15_000)
    expect(closed).toBe(false)
    req.destroy()
    stalled.destroy()
  })
})

describe("a provider that hangs or disconnects mid-stream (OpenAI-compatible, loopback)", () => {
  it("a hang trips the watchdog, a drop is a provider error; both runs end with one summary and the server keeps serving", async () => {
    const fake = await startFakeOpenAI({
      hang: (_body, _req, res) => {
        startEventStream(res)
        sendEvent(res, textChunk("partial "))
        // ...and nothing more, connection held open.
      },
      drop: (_body, _req, res) => {
        startEventStream(res)
        sendEvent(res, textChunk("partial "))
        setTimeout(() => res.socket?.destroy(), 50)
      },
    })
    try {
      const s = await server({
        watchdogMs: 600,
        env: { OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: "sk-test-not-a-real-key" },
      })
      const dir = s.project()
      const finished = finishedEvents(s)
      const a = await s.call("POST", "/session", { directory: dir, body: {} })
      const b = await s.call("POST", "/session", { directory: dir, body: {} })
      const hang = await prompt(s, dir, a.body.id, "openai/hang")
      const drop = await prompt(s, dir, b.body.id, "openai/drop")
      await waitFor(() => finished.has(hang) && finished.has(drop), 15_000)
      const hangSummary = finished.get(hang)!.properties.summary as any
      const dropSummary = finished.get(drop)!.properties.summary as any
      expect(hangSummary.classification).toBe("watchdog_timeout")
      expect(hangSummary.visibleOutput).toBe(true)
      expect(dropSummary.classification).toBe("provider_error")
      expect(JSON.stringify(dropSummary.error ?? {})).toMatch(/provider_disconnected/)
      expect(journalCounts(s, hang)).toEqual({ started: 1, finished: 1 })
      expect(journalCounts(s, drop)).toEqual({ started: 1, finished: 1 })
      expect(s.running.host.processor.activeRuns()).toHaveLength(0)
      expect((await s.call("GET", "/health")).body.ok).toBe(true)
      // A later run on the same server is unaffected.
      const again = await prompt(s, dir, a.body.id, "scripted/quick")
      await waitFor(() => finished.has(again))
      expect((finished.get(again)!.properties.summary as any).classification).toBe("completed")
    } finally {
      await fake.close()
    }
  })
})

describe("the journal's backlog is bounded, and what falls off it is counted", () => {
  it("past MAX_BACKLOG rows the oldest are counted as lost (request rows first), reported in degraded, and the rest written in order on recovery", async () => {
    const dataDir = tempDir("oc-backlog-")
    // In a process of its own, with a deadline: a journal that never returns fails here instead of hanging the worker.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "journal-backlog.scenario.ts"), dataDir],
      {
        cwd: path.resolve(import.meta.dirname, ".."),
        timeout: 20_000,
        killSignal: "SIGKILL",
      },
    ).catch((err: { killed?: boolean; stderr?: string }) => {
      throw new Error(
        err.killed
          ? "the journal scenario did not finish within 20 s"
          : `the journal scenario failed: ${err.stderr ?? err}`,
      )
    })
    const { maxBacklog, locked, recovered, afterClose } = JSON.parse(stdout)
    expect(locked.health).toMatchObject({ backlog: maxBacklog, lost: 100, faults: ["storage_locked"] })
    expect(locked.degraded).toEqual(["storage_locked", "journal_backlog", "journal_records_lost"])
    // The request rows went first; every run row is still held.
    expect(locked).toMatchObject({ runRows: maxBacklog, requestRows: 0 })
    expect(recovered).toEqual({ flushed: true, written: maxBacklog, inOrder: true, degraded: ["journal_records_lost"] })
    // Writes after close are counted, not thrown.
    expect(afterClose).toEqual({ threw: false, lost: 101 })
  })
})
