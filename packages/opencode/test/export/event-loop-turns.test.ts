/**
 * An export, the incident route, the message and run lists and a run's trace read a session a
 * page at a time; the server's event loop must get a turn between pages. Without one, a large session's export held the loop
 * for its whole length (about 1.5 s at 10,000 messages): no other request, SSE event or heartbeat
 * was served meanwhile, and a client that went away was noticed only once everything was read.
 */
import { request } from "node:http"
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest"
import { ExportScanStore } from "../../src/session/export-scan-store.ts"
import { runTraceRecords, sessionExportText } from "../../src/session/export.ts"
import { writeJsonText } from "../../src/session/json-text.ts"
import { startTestServer, type TestServer, untilSettled, waitFor } from "../harness.ts"
import { insertReloadedRuns, insertSession } from "./stored-records.ts"

const SESSION = "ses_one"
const RUNS = 300
const MESSAGES = 3000

let server: TestServer
const host = () => server.running.host

beforeAll(async () => {
  server = await startTestServer()
  const { db, journal, sessions } = host()
  insertSession(db, SESSION)
  db.transaction(() => {
    // Every run closed by a reload of its own, through a request the app made for a renderer action.
    insertReloadedRuns({ journal, sessions }, RUNS, "t")
    for (let i = 0; i < MESSAGES; i++) {
      const id = `msg_t${String(i).padStart(5, "0")}`
      sessions.insertMessage({ id, sessionID: SESSION, role: "user", time: { created: 20_000 + i } })
      sessions.savePart({ id: `prt_t${i}`, sessionID: SESSION, messageID: id, type: "text", text: "x".repeat(1000) }, 0)
    }
  })()
})

afterAll(async () => {
  await server.close()
})

afterEach(() => {
  vi.restoreAllMocks()
})

/** Counts the event loop's turns: one more each time the loop reaches its check phase. */
function turnCounter() {
  let turn = 0
  let on = true
  const tick = () => {
    turn++
    if (on) setImmediate(tick)
  }
  setImmediate(tick)
  return { now: () => turn, stop: () => void (on = false) }
}

/** The turn of each call of `object[method]`, as it is called. */
function turnsOf<T extends object>(
  object: T,
  method: keyof T & string,
  counter: { now(): number },
  only?: (args: unknown[]) => boolean,
) {
  const turns: number[] = []
  const original = (object[method] as (...args: unknown[]) => unknown).bind(object)
  vi.spyOn(object, method as never).mockImplementation(((...args: unknown[]) => {
    if (!only || only(args)) turns.push(counter.now())
    return original(...args)
  }) as never)
  return turns
}

const eachInATurnOfItsOwn = (turns: number[]) => new Set(turns).size === turns.length

describe("a long read gives the event loop a turn between pages", () => {
  test("the export: each page of messages or runs, and each chunk of a list, in a turn of its own", async () => {
    const counter = turnCounter()
    const messagePages = turnsOf(host().sessions, "messagePage", counter)
    const runPages = turnsOf(host().sessions, "runSummaryPage", counter)
    const rendererReads = turnsOf(host().journal, "rowsByRecordId", counter, (args) => args[0] === "renderer")
    try {
      const text = sessionExportText(host(), SESSION, "full", { page: 100, runPage: 16 })!
      expect(await writeJsonText(text, async () => {})).toBe(true)
    } finally {
      counter.stop()
    }
    // 3000 messages in pages of 100; 300 runs in pages of 16, read by the scan, the runs list and the incidents.
    expect(messagePages.length).toBeGreaterThanOrEqual(MESSAGES / 100)
    expect(runPages.length).toBe(3 * Math.ceil(RUNS / 16))
    expect(eachInATurnOfItsOwn(messagePages), `message pages by turn: ${messagePages}`).toBe(true)
    expect(eachInATurnOfItsOwn(runPages), `run pages by turn: ${runPages}`).toBe(true)
    // The renderer actions are read per page of runs (scan and incidents) and per chunk of the list.
    expect(rendererReads.length).toBeGreaterThan(2 * Math.ceil(RUNS / 16))
    expect(eachInATurnOfItsOwn(rendererReads), `renderer reads by turn: ${rendererReads}`).toBe(true)
  })

  test("the incident route, over a socket: each page of runs in a turn of its own", async () => {
    const counter = turnCounter()
    const runPages = turnsOf(host().sessions, "runSummaryPage", counter)
    try {
      const res = await server.fetch(`${server.url}/session/${SESSION}/incident`)
      expect(res.status).toBe(200)
      const chains = (await res.json()) as { runId?: string }[]
      expect(chains).toHaveLength(RUNS)
    } finally {
      counter.stop()
    }
    // The scan and the incidents, in pages of 64.
    expect(runPages.length).toBe(2 * Math.ceil(RUNS / 64))
    expect(eachInATurnOfItsOwn(runPages), `run pages by turn: ${runPages}`).toBe(true)
  })

  test("a run's trace: each page of the scan in a turn of its own", async () => {
    const counter = turnCounter()
    const runPages = turnsOf(host().sessions, "runSummaryPage", counter)
    try {
      const records = await runTraceRecords(host(), SESSION, "run_t0007")
      expect(records?.chains.map((chain) => chain.runId)).toEqual(["run_t0007"])
    } finally {
      counter.stop()
    }
    expect(runPages.length).toBe(Math.ceil(RUNS / 64))
    expect(eachInATurnOfItsOwn(runPages), `run pages by turn: ${runPages}`).toBe(true)
  })

  test("the message and run lists, over a socket: the whole list's JSON, each page in a turn of its own", async () => {
    const counter = turnCounter()
    const messagePages = turnsOf(host().sessions, "messagePage", counter)
    const runPages = turnsOf(host().sessions, "runPage", counter)
    let messages: string
    let runs: string
    try {
      messages = await (await server.fetch(`${server.url}/session/${SESSION}/message`)).text()
      runs = await (await server.fetch(`${server.url}/session/${SESSION}/run`)).text()
    } finally {
      counter.stop()
    }
    expect(messages).toBe(JSON.stringify(host().sessions.messages(SESSION)))
    const listed = JSON.parse(runs) as { runId: string; status: string; summary?: { runId: string } }[]
    expect(listed.map((run) => run.runId)).toEqual(
      host()
        .sessions.runs(SESSION)
        .map((run) => run.runId),
    )
    expect(listed.every((run) => run.summary?.runId === run.runId && run.status)).toBe(true)
    expect(messagePages.length).toBeGreaterThanOrEqual(Math.ceil(MESSAGES / 256))
    expect(runPages.length).toBeGreaterThanOrEqual(Math.ceil(RUNS / 256))
    expect(eachInATurnOfItsOwn(messagePages), `message pages by turn: ${messagePages}`).toBe(true)
    expect(eachInATurnOfItsOwn(runPages), `run pages by turn: ${runPages}`).toBe(true)
  })

  test("the export route, over a socket: a client that goes away after its first bytes stops the reading", async () => {
    const pages = vi.spyOn(host().sessions, "messagePage")
    const opened = vi.spyOn(ExportScanStore, "open")
    const received = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/session/${SESSION}/export`, (res) => {
        res.once("data", (chunk: Buffer) => {
          // Gone: the socket closed under the rest of the answer.
          req.destroy()
          resolve(chunk.length)
        })
      })
      req.on("error", () => {})
      req.once("timeout", () => reject(new Error("no answer")))
      req.end()
    })
    expect(received).toBeGreaterThan(0)
    // The reading stops within a few pages of the close, and never reaches the diagnostics.
    await untilSettled(() => pages.mock.calls.length)
    expect(pages.mock.calls.length).toBeLessThan(Math.ceil(MESSAGES / 256) / 2)
    expect(opened).not.toHaveBeenCalled()
  })
})

test("the incident route, over a socket: a client that goes away during the scan stops it", async () => {
  let destroy: (() => void) | undefined
  const read = host().sessions.runSummaryPage.bind(host().sessions)
  const pages = vi.spyOn(host().sessions, "runSummaryPage").mockImplementation((...args) => {
    // Gone while the second page of the scan is read, before any byte of the answer.
    if (pages.mock.calls.length === 2) destroy?.()
    return read(...args)
  })
  const opened = vi.spyOn(ExportScanStore, "open")
  const closed = vi.spyOn(ExportScanStore.prototype, "close")
  await new Promise<void>((resolve) => {
    const req = request(`${server.url}/session/${SESSION}/incident`)
    destroy = () => {
      req.destroy()
      resolve()
    }
    req.on("error", () => {})
    req.end()
  })
  await waitFor(() => closed.mock.calls.length === opened.mock.calls.length && opened.mock.calls.length === 1, 5000)
  // The scan alone reads ceil(300 / 64) = 5 pages, the chains 5 more.
  expect(pages.mock.calls.length).toBeLessThan(Math.ceil(RUNS / 64))
})
