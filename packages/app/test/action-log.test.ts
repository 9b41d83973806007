import type { ClientAction } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { ACTION_LOG_CAPACITY, ActionLog, FLUSH_BATCH_SIZE, newActionId } from "../src/diagnostics/action-log.ts"
import { pageTemplate } from "../src/context/routes.ts"

const ALLOWED = ["actionId", "name", "outcome", "page", "requestIds", "time"]

function collecting() {
  const batches: ClientAction[][] = []
  const log = new ActionLog({
    send: async (actions) => void batches.push(actions.map((a) => ({ ...a }))),
    now: () => 1_000,
  })
  return { log, batches }
}

describe("action log", () => {
  it("keeps only allow-listed fields, whatever the caller passes", () => {
    const { log } = collecting()
    const input = {
      actionId: "act_one",
      name: "session.prompt",
      page: "/session/ses_abc",
      prompt: "rm -rf my secrets",
      text: "hello",
      url: "http://x/session/ses_abc?title=Secret",
      directory: "/home/me",
    }
    log.start(input as unknown as { actionId: string; name: string; page: string })
    const [record] = log.list()
    expect(Object.keys(record!).sort()).toEqual(ALLOWED)
    const json = JSON.stringify(log.list())
    for (const leaked of ["secrets", "hello", "Secret", "/home/me", "ses_abc"]) expect(json).not.toContain(leaked)
  })

  it("records the page as a route template, never the real URL", () => {
    expect(pageTemplate("/session/ses_abc123")).toBe("/session/:id")
    expect(pageTemplate("/app/session/ses_abc123")).toBe("/session/:id")
    expect(pageTemplate("/app/sessions")).toBe("/sessions")
    expect(pageTemplate("/sessions")).toBe("/sessions")
    expect(pageTemplate("/")).toBe("/")
    expect(pageTemplate("/home/me/project")).toBe("/unknown")
    const { log } = collecting()
    log.start({ actionId: "act_p", name: "session.abort", page: "/session/ses_my-title" })
    expect(log.get("act_p")?.page).toBe("/session/:id")
  })

  it("refuses ids and names outside the server's alphabets", () => {
    const { log } = collecting()
    expect(log.start({ actionId: "not-an-action", name: "session.prompt", page: "/" })).toBeUndefined()
    expect(log.start({ actionId: "act_ok", name: "Session Prompt!", page: "/" })).toBeUndefined()
    expect(log.size).toBe(0)
  })

  it("keeps the action's trace and root span ids, and refuses malformed ones", () => {
    const { log } = collecting()
    const ids = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" }
    expect(log.start({ actionId: "act_t", name: "instance.reload", page: "/", ...ids })).toMatchObject(ids)
    expect(log.start({ actionId: "act_u", name: "instance.reload", page: "/", ...ids, traceId: "0".repeat(32) })).toBe(
      undefined,
    )
    expect(log.start({ actionId: "act_o", name: "instance.reload", page: "/" })).not.toHaveProperty("traceId")
  })

  it("accepts only well-formed request ids, at most 32, without duplicates", () => {
    const { log } = collecting()
    log.start({ actionId: "act_r", name: "instance.reload", page: "/" })
    log.addRequestId("act_r", "req_a1")
    log.addRequestId("act_r", "req_a1")
    log.addRequestId("act_r", "<script>")
    log.addRequestId("act_r", undefined)
    for (let i = 0; i < 40; i++) log.addRequestId("act_r", `req_n${i}`)
    const ids = log.get("act_r")!.requestIds
    expect(ids[0]).toBe("req_a1")
    expect(ids).toHaveLength(32)
    expect(ids).not.toContain("<script>")
  })

  it("is bounded: the oldest records are evicted past its capacity", () => {
    const { log } = collecting()
    for (let i = 0; i < ACTION_LOG_CAPACITY + 120; i++)
      log.start({ actionId: `act_${i}`, name: "session.prompt", page: "/" })
    expect(log.size).toBe(ACTION_LOG_CAPACITY)
    expect(log.get("act_0")).toBeUndefined()
    expect(log.get(`act_${ACTION_LOG_CAPACITY + 119}`)).toBeDefined()
    expect(log.list()[0]!.actionId).toBe("act_120")
    expect(log.dropped).toBe(120)
  })

  it("flushes in batches, sends each change once, and re-sends an action once it settles", async () => {
    const { log, batches } = collecting()
    for (let i = 0; i < FLUSH_BATCH_SIZE + 5; i++)
      log.start({ actionId: `act_${i}`, name: "session.prompt", page: "/" })
    await log.flush()
    expect(batches.map((batch) => batch.length)).toEqual([FLUSH_BATCH_SIZE, 5])
    await log.flush()
    expect(batches).toHaveLength(2)
    log.finish("act_3", "ok")
    await log.flush()
    expect(batches[2]).toEqual([expect.objectContaining({ actionId: "act_3", outcome: "ok" })])
  })

  it("keeps a batch the server did not take for the next flush", async () => {
    let fail = true
    const sent: ClientAction[][] = []
    const log = new ActionLog({
      send: async (actions) => {
        if (fail) throw new Error("offline")
        sent.push(actions)
      },
    })
    log.start({ actionId: "act_keep", name: "instance.reload", page: "/" })
    await expect(log.flush()).rejects.toThrow("offline")
    fail = false
    await log.flush()
    expect(sent.flat().map((a) => a.actionId)).toEqual(["act_keep"])
  })

  it("creates action ids in the server's format", () => {
    const ids = new Set(Array.from({ length: 200 }, () => newActionId()))
    expect(ids.size).toBe(200)
    for (const id of ids) expect(id).toMatch(/^act_[A-Za-z0-9_-]{1,64}$/)
  })
})
