/**
 * `SessionStore.messages`: a session's messages in creation order (ties in insertion order), each
 * with its own parts in their order (text and tool), a message with no part keeping an empty
 * list, and nothing of another session's messages; absent facts are absent keys. And
 * `runSummaries`: the stored summaries in start order with their run and boot, skipping runs with
 * none or a damaged one.
 */
import { rmSync } from "node:fs"
import { afterEach, beforeEach, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { tempDir } from "../harness.ts"
import { crash } from "../provenance/records.ts"

let dataDir: string
let host: Host
beforeEach(() => {
  dataDir = tempDir("oc-messages-")
  host = createHost({ dataDir, env: {} })
  for (const id of ["ses_a", "ses_b"]) {
    host.db
      .prepare(
        "INSERT INTO session (id, directory, directory_key, project_id, title, created, updated) VALUES (?, '/w/p', '/w/p', 'global', 't', 1, 1)",
      )
      .run(id)
  }
})
afterEach(() => {
  host.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test("messages in order, each with its own parts in order, nothing of another session", () => {
  const { sessions } = host
  // Created in one millisecond (a tie), then an earlier one: order is by time, then insertion.
  sessions.insertMessage({
    id: "msg_2",
    sessionID: "ses_a",
    role: "assistant",
    time: { created: 20 },
    runId: "run_1",
    providerID: "scripted",
    modelID: "slow",
  })
  sessions.insertMessage({ id: "msg_3", sessionID: "ses_a", role: "user", time: { created: 20 } })
  sessions.insertMessage({ id: "msg_1", sessionID: "ses_a", role: "user", time: { created: 10 } })
  sessions.insertMessage({ id: "msg_b", sessionID: "ses_b", role: "user", time: { created: 15 } })
  sessions.completeMessage({ id: "msg_2", sessionID: "ses_a", role: "assistant", time: { created: 20 } }, 25)
  // Parts saved out of order, as a run re-saves a growing text part after its tool part.
  sessions.savePart(
    {
      id: "prt_2b",
      sessionID: "ses_a",
      messageID: "msg_2",
      type: "tool",
      callID: "call_1",
      tool: "read",
      state: { status: "completed" },
      path: "src/a.ts",
    },
    2,
  )
  sessions.savePart({ id: "prt_2a", sessionID: "ses_a", messageID: "msg_2", type: "text", text: "first" }, 1)
  sessions.savePart({ id: "prt_1", sessionID: "ses_a", messageID: "msg_1", type: "text", text: "hello" }, 0)
  sessions.savePart({ id: "prt_b", sessionID: "ses_b", messageID: "msg_b", type: "text", text: "other session" }, 0)
  sessions.savePart({ id: "prt_2a", sessionID: "ses_a", messageID: "msg_2", type: "text", text: "first, grown" }, 1)

  expect(sessions.messages("ses_a")).toEqual([
    {
      info: { id: "msg_1", sessionID: "ses_a", role: "user", time: { created: 10 } },
      parts: [{ id: "prt_1", sessionID: "ses_a", messageID: "msg_1", type: "text", text: "hello" }],
    },
    {
      info: {
        id: "msg_2",
        sessionID: "ses_a",
        role: "assistant",
        time: { created: 20, completed: 25 },
        runId: "run_1",
        providerID: "scripted",
        modelID: "slow",
      },
      parts: [
        { id: "prt_2a", sessionID: "ses_a", messageID: "msg_2", type: "text", text: "first, grown" },
        {
          id: "prt_2b",
          sessionID: "ses_a",
          messageID: "msg_2",
          type: "tool",
          callID: "call_1",
          tool: "read",
          state: { status: "completed" },
          path: "src/a.ts",
        },
      ],
    },
    { info: { id: "msg_3", sessionID: "ses_a", role: "user", time: { created: 20 } }, parts: [] },
  ])
  // Key order too: the export writes these objects as they are.
  expect(JSON.stringify(sessions.messages("ses_a")[1]!.info)).toBe(
    '{"id":"msg_2","sessionID":"ses_a","role":"assistant","time":{"created":20,"completed":25},"runId":"run_1","providerID":"scripted","modelID":"slow"}',
  )
  expect(sessions.messages("ses_b").map((m) => m.parts.map((p) => p.id))).toEqual([["prt_b"]])
  expect(sessions.messages("ses_none")).toEqual([])
})

test("runSummaries: stored summaries in start order with their run and boot; none or damaged are skipped", () => {
  const { sessions } = host
  const run = (runId: string, startedAt: number) =>
    sessions.insertRun({
      runId,
      sessionId: "ses_a",
      directoryKey: "/w/p",
      instanceId: "ins_1",
      generation: 1,
      model: "scripted/quick",
      bootId: host.bootId,
      startedAt,
    })
  run("run_late", 30)
  run("run_early", 10)
  run("run_open", 20)
  run("run_damaged", 40)
  const set = host.db.prepare("UPDATE run SET summary = ?, summary_boot = ? WHERE id = ?")
  set.run('{"runId":"run_late","n":2}', "boot_other", "run_late")
  set.run('{"runId":"run_early","n":1}', null, "run_early")
  set.run('{"runId": [trunc', host.bootId, "run_damaged")
  expect(sessions.runSummaries("ses_a")).toEqual([
    { runId: "run_early", summary: { runId: "run_early", n: 1 } },
    { runId: "run_late", summary: { runId: "run_late", n: 2 }, bootId: "boot_other" },
  ])
})

test("messagePageBefore pages from the newest back; the pages joined are `messages`", () => {
  const { sessions } = host
  for (let i = 0; i < 23; i++) {
    // Ties of three in a millisecond, inserted out of id order.
    const id = `msg_${String(100 - i).padStart(3, "0")}`
    sessions.insertMessage({
      id,
      sessionID: "ses_a",
      role: i % 2 ? "assistant" : "user",
      time: { created: Math.floor(i / 3) },
    })
    if (i % 4 !== 1)
      sessions.savePart({ id: `prt_${i}`, sessionID: "ses_a", messageID: id, type: "text", text: `t${i}` }, 0)
    sessions.insertMessage({ id: `msg_b${i}`, sessionID: "ses_b", role: "user", time: { created: Math.floor(i / 3) } })
  }
  const whole = sessions.messages("ses_a")
  expect(whole).toHaveLength(23)
  for (const limit of [1, 3, 4, 7, 23, 50]) {
    let joined: typeof whole = []
    let before: Parameters<typeof sessions.messagePageBefore>[1]
    let pages = 0
    do {
      const read = sessions.messagePageBefore("ses_a", before, limit)
      expect(read.messages.length).toBeLessThanOrEqual(limit)
      joined = [...read.messages, ...joined]
      before = read.next
      pages++
    } while (before)
    expect(joined, `limit ${limit}`).toEqual(whole)
    expect(pages, `limit ${limit}`).toBe(Math.floor(23 / limit) + 1)
  }
})

test("runMessages: one run's messages in order, none of another run or session; run: one run of its session", () => {
  const { sessions } = host
  for (const [id, sessionID, runId, created] of [
    ["msg_1", "ses_a", "run_1", 10],
    ["msg_2", "ses_a", "run_2", 11],
    ["msg_3", "ses_a", "run_1", 12],
    ["msg_4", "ses_b", "run_1", 13],
  ] as const) {
    sessions.insertMessage({ id, sessionID, role: "assistant", time: { created }, runId })
    sessions.savePart({ id: `prt_${id}`, sessionID, messageID: id, type: "text", text: id }, 0)
  }
  expect(sessions.runMessages("ses_a", "run_1")).toEqual(
    sessions.messages("ses_a").filter((message) => message.info.runId === "run_1"),
  )
  expect(sessions.runMessages("ses_a", "run_1").map((message) => message.info.id)).toEqual(["msg_1", "msg_3"])
  expect(sessions.runMessages("ses_a", "run_9")).toEqual([])
  const run = { directoryKey: "/w/p", instanceId: "ins_a", generation: 1, model: "scripted/quick", bootId: "boot_a" }
  sessions.insertRun({ ...run, runId: "run_1", sessionId: "ses_a", startedAt: 5 })
  sessions.insertRun({ ...run, runId: "run_2", sessionId: "ses_a", startedAt: 6 })
  expect(sessions.run("ses_a", "run_2")).toEqual(sessions.runs("ses_a").find((r) => r.runId === "run_2"))
  expect(sessions.run("ses_b", "run_2")).toBeUndefined()
})

test("crashRows: a session's crash evidence, as the general row filter finds it", () => {
  const { journal } = host
  const evidence = (runId: string, sessionId: string) => ({ ...crash(runId), sessionId })
  journal.append("crash.detected", { runId: "run_1", sessionId: "ses_a" }, evidence("run_1", "ses_a"))
  journal.append("run.visible_output", { runId: "run_2", sessionId: "ses_a" }, { runId: "run_2", at: 1 })
  journal.append("crash.detected", { runId: "run_3", sessionId: "ses_b" }, evidence("run_3", "ses_b"))
  journal.append("crash.detected", { runId: "run_4", sessionId: "ses_a" }, evidence("run_4", "ses_a"))
  for (const sessionId of ["ses_a", "ses_b", "ses_c"])
    expect(journal.crashRows(sessionId), sessionId).toEqual(journal.rows({ kinds: ["crash.detected"], sessionId }))
  expect(journal.crashRows("ses_a").map((row) => row.runId)).toEqual(["run_1", "run_4"])
})
