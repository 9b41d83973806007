/**
 * A session created without a title is named by its first prompt (its first line, cut to 60
 * characters), as opencode names a session from its first message; a title the client gave, or
 * one already taken from a prompt, is kept. The rename is published as `session.updated`.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { finishedRun, startApp, type TestServer } from "../harness.ts"

/** Half a surrogate pair: what a cut by UTF-16 length leaves, printed as "�". */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

let server: TestServer
beforeEach(async () => {
  server = await startApp()
})
afterEach(async () => {
  await server.close()
})

async function prompt(sessionId: string, dir: string, text: string) {
  const res = await server.call("POST", `/session/${sessionId}/prompt`, {
    directory: dir,
    body: { text, model: "scripted/quick" },
  })
  expect(res.status).toBe(200)
  await finishedRun(server, sessionId, res.body.runId)
}

describe("session title from the first prompt", () => {
  test("the first prompt's first line names an untitled session; later prompts do not rename it", async () => {
    const dir = server.project()
    const updates: string[] = []
    server.running.host.bus.subscribe((event) => {
      if (event.type === "session.updated") updates.push((event.properties as { info: { title: string } }).info.title)
    })
    const created = (await server.call("POST", "/session", { directory: dir, body: {} })).body
    // A readable default, no raw ISO time (the list shows the session's time beside it).
    expect(created.title).toBe("New session")
    await prompt(created.id, dir, "  Tidy the parser   module\nand add tests for it")
    expect((await server.call("GET", `/session/${created.id}`)).body.title).toBe("Tidy the parser module")
    expect(updates).toContain("Tidy the parser module")
    expect(
      (await server.call("GET", "/session", { directory: dir })).body.map(
        (session: { title: string }) => session.title,
      ),
    ).toEqual(["Tidy the parser module"])
    await prompt(created.id, dir, "Something else")
    expect((await server.call("GET", `/session/${created.id}`)).body.title).toBe("Tidy the parser module")
  })

  test("a long first line is cut with an ellipsis; a title the client chose is kept", async () => {
    const dir = server.project()
    const untitled = (await server.call("POST", "/session", { directory: dir, body: {} })).body
    await prompt(untitled.id, dir, "x".repeat(200))
    expect((await server.call("GET", `/session/${untitled.id}`)).body.title).toBe(`${"x".repeat(59)}…`)
    // A client may name a session "New session" itself: that title is its own and is kept.
    const chosen = (await server.call("POST", "/session", { directory: dir, body: { title: "New session" } })).body
    await prompt(chosen.id, dir, "Hello")
    expect((await server.call("GET", `/session/${chosen.id}`)).body.title).toBe("New session")
    const named = (await server.call("POST", "/session", { directory: dir, body: { title: "My own title" } })).body
    await prompt(named.id, dir, "Hello")
    expect((await server.call("GET", `/session/${named.id}`)).body.title).toBe("My own title")
  })

  const graphemes = (text: string) =>
    [...new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)].map((part) => part.segment)

  test.each([
    ["emoji past 60 UTF-16 units", `${"A".repeat(58)}${"👍🏽".repeat(3)}`, `${"A".repeat(58)}👍🏽…`],
    ["a family emoji at the cut", `${"B".repeat(59)}👨‍👩‍👧‍👦 and more`, `${"B".repeat(59)}…`],
    ["accents written as combining marks", "e\u0301".repeat(70), `${"e\u0301".repeat(59)}…`],
    ["a line of 60 characters with astral letters", "𝒜".repeat(60), "𝒜".repeat(60)],
  ])("a long first line is cut between characters a person counts: %s", async (_, line, expected) => {
    const dir = server.project()
    const untitled = (await server.call("POST", "/session", { directory: dir, body: {} })).body
    await prompt(untitled.id, dir, line)
    const title = (await server.call("GET", `/session/${untitled.id}`)).body.title as string
    expect(title).toBe(expected)
    expect(title).not.toMatch(LONE_SURROGATE)
    expect(graphemes(title).length).toBeLessThanOrEqual(60)
  })
})
