/**
 * The renderer uploads an action when the user takes it (`pending`) and again when it settles
 * (`ok` or `error`). The export holds one record per action, in its final state.
 */
import { afterEach, beforeEach, expect, test } from "vitest"
import { appHeaders, startApp, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
afterEach(async () => {
  await server.close()
})

function action(actionId: string, outcome: "pending" | "ok" | "error", requestIds: string[] = []) {
  return { actionId, name: "session.prompt", page: "/session/:id", time: 1_700_000_000_000, requestIds, outcome }
}

/** A session prompted by the app under `actionId`, so the export links that renderer action. */
async function sessionFromAction(actionId: string): Promise<{ sessionId: string; requestId: string }> {
  const directory = server.project()
  const created = await server.call("POST", "/session", { directory, body: {} })
  expect(created.status).toBe(200)
  const prompt = await server.call("POST", `/session/${created.body.id}/prompt`, {
    directory,
    body: { text: "hello", model: "scripted/quick" },
    headers: appHeaders("session.prompt", actionId),
  })
  expect(prompt.status).toBe(200)
  return { sessionId: created.body.id, requestId: prompt.headers.get("x-opencode-request-id")! }
}

async function upload(...actions: unknown[]): Promise<void> {
  const res = await server.call("POST", "/diagnostics/renderer", { body: { actions } })
  expect(res.body).toEqual({ accepted: actions.length, rejected: 0 })
}

async function exportedRenderer(sessionId: string): Promise<any[]> {
  const doc = await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)
  expect(doc.status).toBe(200)
  return doc.body.diagnostics.renderer
}

test("pending then ok, in two uploads: one record, in state ok", async () => {
  const { sessionId, requestId } = await sessionFromAction("act_final_two")
  await upload(action("act_final_two", "pending"))
  await upload(action("act_final_two", "ok", [requestId]))
  const renderer = await exportedRenderer(sessionId)
  expect(renderer).toEqual([action("act_final_two", "ok", [requestId])])
})

test("pending then error, in one batch: one record, in state error", async () => {
  const { sessionId } = await sessionFromAction("act_final_one")
  await upload(action("act_final_one", "pending"), action("act_final_one", "error"))
  const renderer = await exportedRenderer(sessionId)
  expect(renderer).toHaveLength(1)
  expect(renderer[0].outcome).toBe("error")
})

test("a pending row re-sent after the action settled does not undo its final state", async () => {
  const { sessionId } = await sessionFromAction("act_final_late")
  await upload(action("act_final_late", "pending"))
  await upload(action("act_final_late", "ok"))
  await upload(action("act_final_late", "pending"))
  const renderer = await exportedRenderer(sessionId)
  expect(renderer).toHaveLength(1)
  expect(renderer[0].outcome).toBe("ok")
})

test("an action that never settled is exported as pending", async () => {
  const { sessionId } = await sessionFromAction("act_final_open")
  await upload(action("act_final_open", "pending"))
  expect((await exportedRenderer(sessionId)).map((a) => a.outcome)).toEqual(["pending"])
})
