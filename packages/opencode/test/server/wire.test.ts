/**
 * What the server sends is what `provenance/wire.ts` defines: every event published during a
 * run with a tool call, a user stop and a reload, and each route's answer, parse with the wire's
 * schemas and lose nothing in the parse (a field the wire does not define would be dropped, and
 * the comparison would fail).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import type { SequencedEvent } from "../../src/bus/index.ts"
import {
  EVENTS,
  IncidentList,
  MessageList,
  PromptAnswer,
  RunList,
  Session,
  SessionList,
} from "../../src/provenance/wire.ts"
import { startTestServer, type TestServer, waitFor } from "../harness.ts"

let server: TestServer
const published: SequencedEvent[] = []
let sessionId = ""
let dir = ""

beforeAll(async () => {
  server = await startTestServer()
  server.running.host.bus.subscribe((event) => published.push(event))
  dir = server.project()
  const session = await server.call("POST", "/session", { directory: dir, body: { title: "wire" } })
  sessionId = session.body.id
  const finished = () => published.filter((event) => event.type === "run.finished").length
  const tool = await server.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    body: { text: "write it", model: "scripted/tool-write" },
  })
  expect(PromptAnswer.parse(tool.body)).toEqual(tool.body)
  await waitFor(() => finished() === 1)
  await server.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    body: { text: "go", model: "scripted/slow" },
  })
  await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
  await waitFor(() => finished() === 2)
  await server.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    body: { text: "go", model: "scripted/slow" },
  })
  await server.call("POST", "/instance/reload", { directory: dir })
  await waitFor(() => finished() === 3)
  await server.call("POST", "/instance/dispose", { directory: dir })
}, 30_000)

afterAll(async () => {
  await server.close()
})

describe("the wire", () => {
  test("every event published parses with its definition, nothing dropped", () => {
    const types = new Set(published.map((event) => event.type))
    for (const type of [
      "session.updated",
      "session.status",
      "session.idle",
      "message.updated",
      "message.part.updated",
      "run.started",
      "run.finished",
      "lifecycle.action.started",
      "lifecycle.action.finished",
      "server.instance.disposed",
    ]) {
      expect(types).toContain(type)
    }
    for (const event of published) {
      const wire = JSON.parse(JSON.stringify(event.properties))
      const parsed = EVENTS[event.type].properties.safeParse(wire)
      expect(parsed.success ? parsed.data : parsed.error.issues, event.type).toEqual(wire)
    }
  })

  test("the routes answer the wire's shapes, nothing dropped", async () => {
    const answers = [
      [Session, await server.call("GET", `/session/${sessionId}`)],
      [SessionList, await server.call("GET", "/session", { directory: dir })],
      [MessageList, await server.call("GET", `/session/${sessionId}/message`)],
      [RunList, await server.call("GET", `/session/${sessionId}/run`)],
      [IncidentList, await server.call("GET", `/session/${sessionId}/incident`)],
    ] as const
    for (const [schema, answer] of answers) {
      expect(answer.status).toBe(200)
      const parsed = schema.safeParse(answer.body)
      expect(parsed.success ? parsed.data : parsed.error.issues).toEqual(answer.body)
    }
    const runs = RunList.parse((await server.call("GET", `/session/${sessionId}/run`)).body)
    expect(runs.map((run) => run.summary?.classification).sort()).toEqual([
      "completed",
      "local_instance_reload",
      "user_cancelled",
    ])
  })

  test("the events only a connection gets (server.connected, server.replay_gap) parse too", async () => {
    const res = await fetch(`${server.url}/event`, { headers: { "last-event-id": "boot_other:3" } })
    const reader = res.body!.getReader()
    let text = ""
    while ((text.match(/\n\n/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value)
    await reader.cancel()
    const events = [...text.matchAll(/^data: (.*)$/gm)].map(
      (match) => JSON.parse(match[1]!) as { type: keyof typeof EVENTS; properties: unknown },
    )
    expect(events.map((event) => event.type)).toEqual(["server.connected", "server.replay_gap"])
    for (const event of events) expect(EVENTS[event.type].properties.parse(event.properties)).toEqual(event.properties)
  })
})
