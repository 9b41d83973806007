/**
 * A prompt in a long session reads what it needs, not the session: the history the provider gets
 * (the last 40 messages with text) comes from the newest messages back, and the answer of
 * `POST /session/:id/message` from the run's own messages. Both once read every message of the
 * session on every prompt (about a second on the event loop at 100,000 messages).
 */
import { afterAll, beforeAll, expect, test, vi } from "vitest"
import { sendEvent, startEventStream, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"
import { startApp, type TestServer } from "../harness.ts"

const STORED = 600

let fake: FakeOpenAI
let server: TestServer
let sessionId: string

beforeAll(async () => {
  fake = await startFakeOpenAI({
    echo: (body, _req, res) => {
      startEventStream(res)
      sendEvent(res, textChunk(`answer to ${body.messages.at(-1)?.content}`, "stop"))
      sendEvent(res, "[DONE]")
      res.end()
    },
  })
  server = await startApp({ env: { OPENAI_BASE_URL: fake.baseUrl } })
  const created = await server.call("POST", "/session", { directory: server.project(), body: {} })
  sessionId = created.body.id
  const { sessions, db } = server.running.host
  db.transaction(() => {
    for (let i = 0; i < STORED; i++) {
      const id = `msg_h${String(i).padStart(4, "0")}`
      const role = i % 2 === 0 ? "user" : "assistant"
      // Same created time for pairs: the order within a time is the order stored.
      sessions.insertMessage({ id, sessionID: sessionId, role, time: { created: 1_000 + Math.floor(i / 2) } })
      // Every seventh message has no text (a message whose parts were all tools, or none): not history.
      if (i % 7 !== 3)
        sessions.savePart({ id: `prt_h${i}`, sessionID: sessionId, messageID: id, type: "text", text: `m${i}` }, 0)
    }
  })()
})

afterAll(async () => {
  await server.close()
  await fake.close()
})

/** What the provider was sent before the new prompt, as the whole session gives it: the last 40 messages with text. */
function expectedHistory(): { role: string; content: string }[] {
  return server.running.host.sessions
    .messages(sessionId)
    .flatMap((message) => {
      const content = message.parts.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("")
      return content ? [{ role: message.info.role, content }] : []
    })
    .slice(-40)
}

test("each prompt sends the last 40 messages with text, and neither it nor its answer reads the whole session", async () => {
  const { sessions } = server.running.host
  for (const text of ["first", "second", "third"]) {
    const history = expectedHistory()
    const whole = vi.spyOn(sessions, "messages")
    const res = await server.call("POST", `/session/${sessionId}/message`, {
      body: { text, model: "openai/echo" },
    })
    expect(whole).not.toHaveBeenCalled()
    whole.mockRestore()
    expect(res.status).toBe(200)
    // The answer is this run's assistant message.
    expect(res.body.info.role).toBe("assistant")
    expect(res.body.parts.map((part: { text?: string }) => part.text).join("")).toBe(`answer to ${text}`)
    const sent = fake.received.at(-1)!.messages.filter((message: { role: string }) => message.role !== "system")
    expect(sent).toEqual([...history, { role: "user", content: text }])
  }
})
