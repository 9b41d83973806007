/**
 * The write tool's refusal of a git config that names a program says which setting it refused in
 * the rule table's own words (`alias.*`, `core.fsmonitor`), never by a key taken from the content:
 * the content is a tool input, and the refusal's message is kept as the run's error excerpt
 * (diagnostics, incidents, the journal), where the redactor digests only quoted text.
 */
import Database from "better-sqlite3"
import { existsSync } from "node:fs"
import { mkdtemp, realpath, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it, test } from "vitest"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { gitConfigProgramKey } from "../../src/tool/git-repository.ts"
import { ToolError } from "../../src/tool/tool.ts"
import { writeTool } from "../../src/tool/write.ts"
import { finishedRun, startApp, type TestServer } from "../harness.ts"
import { sendEvent, startEventStream, startFakeOpenAI, textChunk, type FakeOpenAI } from "../export/fake-openai.ts"

const CANARY = "cnrytoolcontent7e21"

describe("the write tool's refusal of a program-naming git config", () => {
  let project: string
  beforeAll(async () => {
    project = await realpath(await mkdtemp(path.join(tmpdir(), "write-refusal-")))
  })
  afterAll(async () => {
    await rm(project, { recursive: true, force: true })
  })

  it("names the setting in the rule table's words, never a key from the content", () => {
    expect(gitConfigProgramKey(`[alias]\n\t${CANARY} = !echo hi\n`)).toBe("alias.*")
    expect(gitConfigProgramKey(`[pager]\n\t${CANARY} = less\n`)).toBe("pager.*")
    expect(gitConfigProgramKey(`[Alias "${CANARY}"]\n\t${CANARY}x = !echo hi\n`)).toBe("alias.*")
    expect(gitConfigProgramKey("[core]\n\tfsmonitor = x\n")).toBe("core.fsmonitor")
  })

  it.each([
    ["an alias", `[alias]\n\t${CANARY} = !echo hi\n`, "alias.*"],
    ["a pager", `[pager]\n\t${CANARY} = less\n`, "pager.*"],
    ["an old-style subsection header", `[alias.${CANARY}]\n\t${CANARY} = !echo hi\n`, "alias.*"],
    ["a key on the header line", `[alias] ${CANARY} = !echo hi\n`, "alias.*"],
  ])("refuses %s without the content in its message or its kept excerpt", async (_what, content, setting) => {
    const ctx = { directory: project, signal: new AbortController().signal }
    const error = await writeTool.execute({ path: "notes.txt", content }, ctx).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ToolError)
    expect((error as ToolError).code).toBe("path_refused")
    expect((error as ToolError).message).toContain(`git config setting ${setting},`)
    expect((error as ToolError).message.toLowerCase()).not.toContain(CANARY)
    expect(JSON.stringify(createRedactor("salt").errorFact(error))).not.toContain(CANARY)
    expect(existsSync(path.join(project, "notes.txt"))).toBe(false)
  })
})

describe("through a run, end to end", () => {
  let fake: FakeOpenAI
  let server: TestServer
  let sessionId: string
  let runId: string
  let dir: string

  beforeAll(async () => {
    fake = await startFakeOpenAI({
      gitalias: (body, _req, res) => {
        startEventStream(res)
        if (body.messages.at(-1)?.role === "tool") {
          sendEvent(res, textChunk("ok", "stop"))
        } else {
          const args = JSON.stringify({ path: "notes.txt", content: `[alias]\n\t${CANARY} = !echo hi\n` })
          sendEvent(res, {
            choices: [
              {
                index: 0,
                delta: { tool_calls: [{ index: 0, id: "call_alias1", function: { name: "write", arguments: args } }] },
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
    dir = server.project()
    sessionId = (await server.call("POST", "/session", { directory: dir, body: {} })).body.id
    const prompt = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "write it", model: "openai/gitalias" },
    })
    expect(prompt.status).toBe(200)
    runId = prompt.body.runId
    await finishedRun(server, sessionId, runId)
  }, 30_000)

  afterAll(async () => {
    await server?.close()
    await fake?.close()
  })

  test("positive control: the content reached the write tool, which refused it", async () => {
    // The model asked for the write once: the run ended at the refusal.
    expect(fake.received).toHaveLength(1)
    const summary = await finishedRun(server, sessionId, runId)
    expect(summary.classification).toBe("tool_error")
    expect(summary.error.code).toBe("path_refused")
    expect(summary.error.excerpt).toContain("alias.*")
    expect(summary.tools.map((tool: any) => tool.name)).toEqual(["write"])
    expect(existsSync(path.join(dir, "notes.txt"))).toBe(false)
  })

  test("the diagnostics-only export and the incident route carry no tool content", async () => {
    const doc = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
    expect(JSON.stringify(doc.diagnostics).toLowerCase()).not.toContain(CANARY)
    expect(JSON.stringify(doc.incidents).toLowerCase()).not.toContain(CANARY)
    const incidents = (await server.call("GET", `/session/${sessionId}/incident`)).body
    expect(JSON.stringify(incidents).toLowerCase()).not.toContain(CANARY)
  })

  test("the journal on disk carries no tool content", () => {
    const db = new Database(path.join(server.dataDir, "opencode.db"), { readonly: true })
    try {
      const rows = db.prepare("SELECT kind, data FROM journal").all() as { kind: string; data: string }[]
      expect(rows.filter((row) => row.data.toLowerCase().includes(CANARY)).map((row) => row.kind)).toEqual([])
    } finally {
      db.close()
    }
  })
})
