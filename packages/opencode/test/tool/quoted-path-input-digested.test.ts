/**
 * Every tool error quotes the path it failed on as a JSON string, so a path holding `"` or `\`
 * stays one quoted value, and the redactor's digest of quoted tool input covers all of it: no part
 * of a tool's path reaches the run's error excerpt (diagnostics, incidents, the journal).
 */
import Database from "better-sqlite3"
import { mkdir, mkdtemp, realpath, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it, test } from "vitest"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { builtinTools } from "../../src/tool/registry.ts"
import { ToolError, type ToolContext } from "../../src/tool/tool.ts"
import { finishedRun, startApp, type TestServer } from "../harness.ts"
import { sendEvent, startEventStream, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"

const CANARY = "cnrytoolpath5c0d"

/** Paths that try to end the quoted value early: a quote, an escaped quote, a trailing backslash. */
const HOSTILE = [
  `notes" ${CANARY} "x.txt`,
  `notes\\" ${CANARY} \\"x.txt`,
  `notes\\\\" ${CANARY} "x.txt`,
  `notes ${CANARY}\\`,
  `"${CANARY}"`,
  `notes\\"\\\\"${CANARY}`,
]

describe("a tool error on a path holding quotes or backslashes", () => {
  let project: string
  let ctx: ToolContext
  const redactor = createRedactor("salt")
  beforeAll(async () => {
    project = await realpath(await mkdtemp(path.join(tmpdir(), "quoted-path-")))
    ctx = { directory: project, signal: new AbortController().signal }
  })
  afterAll(async () => {
    await rm(project, { recursive: true, force: true })
  })

  async function excerptOf(toolName: string, input: Record<string, unknown>, code: string): Promise<string> {
    const tool = builtinTools().find((candidate) => candidate.name === toolName)!
    const error = await tool.execute(input, ctx).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ToolError)
    expect((error as ToolError).code).toBe(code)
    const fact = redactor.errorFact(error)
    expect(JSON.stringify(fact)).not.toContain(CANARY)
    return fact.excerpt ?? ""
  }

  it.each(HOSTILE)("keeps no part of %j, whichever error quotes it", async (hostile) => {
    await mkdir(path.join(project, `dir ${hostile}`), { recursive: true })
    const excerpts = [
      await excerptOf("read", { path: `../${hostile}` }, "path_outside_project"),
      await excerptOf("read", { path: hostile }, "not_found"),
      await excerptOf("read", { path: `dir ${hostile}` }, "io_error"),
      await excerptOf("list", { path: `../${hostile}` }, "path_outside_project"),
      await excerptOf("write", { path: `.git/${hostile}`, content: "x" }, "path_refused"),
    ]
    for (const excerpt of excerpts) {
      expect(excerpt).not.toContain(CANARY)
      // The whole path is one digest: the marker stands where the path was, and no quote is left over.
      expect(excerpt).toMatch(/^(?:[^"]* )?"\[path:[a-f0-9]{16}\]"[^"]*$/)
    }
  })

  it("quotes the path as a JSON string in the outside-the-project refusal", async () => {
    const error = await builtinTools()
      .find((tool) => tool.name === "read")!
      .execute({ path: `../a"b\\c` }, ctx)
      .catch((e: unknown) => e)
    expect((error as ToolError).message).toBe(
      `path ${JSON.stringify(`../a"b\\c`)} is outside the project directory; use a path relative to it`,
    )
  })
})

describe("through a run, end to end", () => {
  let fake: FakeOpenAI
  let server: TestServer
  let sessionId: string
  let runId: string

  beforeAll(async () => {
    fake = await startFakeOpenAI({
      quotepath: (body, _req, res) => {
        startEventStream(res)
        if (body.messages.at(-1)?.role === "tool") {
          sendEvent(res, textChunk("ok", "stop"))
        } else {
          const args = JSON.stringify({ path: `../notes" ${CANARY} "x.txt` })
          sendEvent(res, {
            choices: [
              {
                index: 0,
                delta: { tool_calls: [{ index: 0, id: "call_quote1", function: { name: "read", arguments: args } }] },
                finish_reason: "tool_calls",
              },
            ],
          })
        }
        sendEvent(res, "[DONE]")
        res.end()
      },
    })
    server = await startApp({ env: { OPENAI_BASE_URL: fake.baseUrl } })
    const dir = server.project()
    sessionId = (await server.call("POST", "/session", { directory: dir, body: {} })).body.id
    const prompt = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "read it", model: "openai/quotepath" },
    })
    expect(prompt.status).toBe(200)
    runId = prompt.body.runId
    await finishedRun(server, sessionId, runId)
  }, 30_000)

  afterAll(async () => {
    await server?.close()
    await fake?.close()
  })

  test("positive control: the read tool refused the path as outside the project", async () => {
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("tool_error")
    expect(summary.error).toMatchObject({ code: "path_outside_project", class: "ToolError" })
  })

  test("the diagnostics-only export and the incident route carry no part of the tool's path", async () => {
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    expect(JSON.stringify(doc.diagnostics)).not.toContain(CANARY)
    expect(JSON.stringify(doc.incidents)).not.toContain(CANARY)
    const incidents = (await server.call("GET", `/session/${sessionId}/incident`)).body
    expect(JSON.stringify(incidents)).not.toContain(CANARY)
  })

  test("the journal on disk carries no part of the tool's path", () => {
    const db = new Database(path.join(server.dataDir, "opencode.db"), { readonly: true })
    try {
      const rows = db.prepare("SELECT kind, data FROM journal").all() as { kind: string; data: string }[]
      expect(rows.filter((row) => row.data.includes(CANARY)).map((row) => row.kind)).toEqual([])
    } finally {
      db.close()
    }
  })
})
