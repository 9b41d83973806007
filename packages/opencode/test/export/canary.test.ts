/**
 * Privacy canaries: distinct secrets planted in every input the server sees (prompt text, tool
 * inputs, a project directory name, request headers, the server's environment, a provider's
 * error body), runs interrupted through reload, dispose, cancel and errors, and then no canary
 * may appear in the export's diagnostics or incidents, the incident and run routes, or the
 * journal on disk. Positive controls prove each canary really reached the server.
 */
import Database from "better-sqlite3"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { finishedRun, startApp, tempDir, waitFor, type TestServer } from "../harness.ts"
import {
  sendEvent,
  startEventStream,
  startFakeOpenAI,
  streamForever,
  textChunk,
  type FakeOpenAI,
} from "./fake-openai.ts"
import { SessionExportDocument } from "../../src/provenance/index.ts"

const CANARY = {
  prompt: "cnry-prompt-5d1e",
  toolContent: "cnry-toolcontent-a71b",
  toolPath: "cnry-toolpath-c3f0",
  toolErrorPath: "cnry-toolerr-88aa",
  directory: "cnry-dir-e4b2",
  cookie: "cnry-cookie-19fc",
  authorization: "cnry-authz-0b7d",
  customHeader: "cnry-custom-6e21",
  actionName: "cnry-actname-4a9c",
  actionId: "cnry-actid-77d0",
  traceparent: "cnry-trace-3c3c",
  envKey: "sk-cnry-envkey-2f6a9b",
  envVar: "cnry-envvar-5150",
  providerError: "cnry-provider-d00d",
  rendererField: "cnry-renderer-ab12",
} as const

/** Every request carries these: none is a header the protocol names with a valid value. */
const HOSTILE_HEADERS: Record<string, string> = {
  cookie: `sid=${CANARY.cookie}; theme=dark`,
  authorization: `Bearer ${CANARY.authorization}`,
  "x-team-secret": CANARY.customHeader,
  "x-opencode-client": "app/0.1.0",
  "x-opencode-action-name": `instance.reload/${CANARY.actionName}`,
  "x-opencode-action-id": `act_${CANARY.actionId}!`,
  traceparent: `00-${CANARY.traceparent}-01`,
}

function leaks(haystack: unknown, except: string[] = []): string[] {
  const text = (typeof haystack === "string" ? haystack : JSON.stringify(haystack)).toLowerCase()
  return Object.entries(CANARY)
    .filter(([name]) => !except.includes(name))
    .filter(([, canary]) => text.includes(canary.toLowerCase()))
    .map(([name]) => name)
}

let fake: FakeOpenAI
let server: TestServer
let dataDir: string
let projectRoot: string
let project: string
const sessions: Record<string, string> = {}
const runs: Record<string, string> = {}
const exports: Record<string, { full: any; diagnostics: any; incident: any; run: any }> = {}
let journalRows: { kind: string; data: string }[] = []
let runSummaries: string[] = []

beforeAll(async () => {
  fake = await startFakeOpenAI({
    // A tool call whose input carries canaries, then a stream that goes on until interrupted.
    toolcanary: (body, _req, res) => {
      if (body.messages.at(-1)?.role === "tool") return streamForever(res)
      startEventStream(res)
      sendEvent(res, textChunk("Writing the notes.\n"))
      const args = JSON.stringify({
        path: `notes-${CANARY.toolPath}.txt`,
        content: `secret notes ${CANARY.toolContent}\n`,
      })
      sendEvent(res, {
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, id: "call_canary1", function: { name: "write", arguments: args } }] },
            finish_reason: "tool_calls",
          },
        ],
      })
      sendEvent(res, "[DONE]")
      res.end()
    },
    // A tool call that the write tool refuses: its input (the path) is echoed in the tool's error.
    toolescape: (body, _req, res) => {
      startEventStream(res)
      if (body.messages.at(-1)?.role === "tool") {
        sendEvent(res, textChunk("That did not work.", "stop"))
      } else {
        const args = JSON.stringify({ path: `../${CANARY.toolErrorPath}/escape.txt`, content: "x" })
        sendEvent(res, {
          choices: [
            {
              index: 0,
              delta: { tool_calls: [{ index: 0, id: "call_canary2", function: { name: "write", arguments: args } }] },
              finish_reason: "tool_calls",
            },
          ],
        })
      }
      sendEvent(res, "[DONE]")
      res.end()
    },
    error500: (_body, _req, res) => {
      res.writeHead(500, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          error: { message: `upstream rejected the call: api_key=${CANARY.providerError} (key ${CANARY.envKey})` },
        }),
      )
    },
  })
  dataDir = tempDir("oc-canary-data-")
  server = await startApp({
    dataDir,
    env: { OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: CANARY.envKey, TEAM_SECRET: CANARY.envVar },
  })
  projectRoot = tempDir("oc-canary-proj-")
  project = path.join(projectRoot, `repo-${CANARY.directory}`)
  mkdirSync(project)

  const call = (method: string, route: string, body?: unknown) =>
    server.call(method, route, {
      directory: project,
      headers: HOSTILE_HEADERS,
      ...(body !== undefined ? { body } : {}),
    })
  const start = async (name: string, model: string) => {
    const session = await call("POST", "/session", {})
    expect(session.status).toBe(200)
    sessions[name] = session.body.id
    const prompt = await call("POST", `/session/${session.body.id}/prompt`, {
      text: `please ${CANARY.prompt} now`,
      model,
    })
    expect(prompt.status).toBe(200)
    runs[name] = prompt.body.runId
  }
  const assistantText = async (name: string) => {
    const messages = await server.call("GET", `/session/${sessions[name]}/message`)
    return (messages.body as any[]).some(
      (m) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.includes("chunk")),
    )
  }

  // A: a write tool with canary input, then a reload while the model streams its second turn.
  await start("toolReload", "openai/toolcanary")
  await waitFor(() => assistantText("toolReload"))
  // B: the provider answers 500 with a secret in its body.
  await start("providerError", "openai/error500")
  // C: the write tool refuses a path that carries a canary.
  await start("toolError", "openai/toolescape")
  // D: a scripted run cancelled by the user.
  await start("cancel", "scripted/slow")
  await waitFor(async () =>
    (await server.call("GET", `/session/${sessions.cancel}/message`)).body.some(
      (m: any) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
    ),
  )
  expect((await call("POST", `/session/${sessions.cancel}/abort`)).status).toBe(200)
  await finishedRun(server, sessions.cancel!, runs.cancel!)
  await finishedRun(server, sessions.providerError!, runs.providerError!)
  await finishedRun(server, sessions.toolError!, runs.toolError!)

  expect((await call("POST", "/instance/reload")).status).toBe(200)
  await finishedRun(server, sessions.toolReload!, runs.toolReload!)

  // E: a scripted run closed by a dispose.
  await start("dispose", "scripted/slow")
  await waitFor(async () =>
    (await server.call("GET", `/session/${sessions.dispose}/message`)).body.some(
      (m: any) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
    ),
  )
  // This close carries a valid renderer action (with the hostile headers beside it), and the
  // renderer uploads its log with canaries in fields the allow-list does not name.
  const disposeHeaders = {
    ...HOSTILE_HEADERS,
    "x-opencode-action-id": "act_canary_dispose",
    "x-opencode-action-name": "instance.dispose",
  }
  expect((await server.call("POST", "/instance/dispose", { directory: project, headers: disposeHeaders })).status).toBe(
    200,
  )
  await finishedRun(server, sessions.dispose!, runs.dispose!)
  const upload = await call("POST", "/diagnostics/renderer", {
    actions: [
      {
        actionId: "act_canary_dispose",
        name: "instance.dispose",
        page: "/session/:id",
        time: Date.now(),
        requestIds: [],
        outcome: "ok",
        title: CANARY.rendererField,
        prompt: `x ${CANARY.rendererField}`,
        directory: `/home/me/${CANARY.rendererField}`,
      },
      { actionId: "act_bad", name: `bad ${CANARY.rendererField}`, page: "/", time: 1 },
    ],
  })
  expect(upload.body).toEqual({ accepted: 1, rejected: 1 })

  for (const [name, id] of Object.entries(sessions)) {
    exports[name] = {
      full: (await call("GET", `/session/${id}/export`)).body,
      diagnostics: (await call("GET", `/session/${id}/export?content=diagnostics`)).body,
      incident: (await call("GET", `/session/${id}/incident`)).body,
      run: (await call("GET", `/session/${id}/run`)).body,
    }
  }
  await server.close()
  const db = new Database(path.join(dataDir, readdirDb(dataDir)), { readonly: true, fileMustExist: true })
  try {
    journalRows = db.prepare("SELECT kind, data FROM journal").all() as { kind: string; data: string }[]
    runSummaries = (db.prepare("SELECT summary FROM run WHERE summary IS NOT NULL").all() as { summary: string }[]).map(
      (row) => row.summary,
    )
  } finally {
    db.close()
  }
}, 60_000)

afterAll(async () => {
  await fake?.close()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(projectRoot, { recursive: true, force: true })
})

function readdirDb(dir: string): string {
  for (const name of ["opencode.db", "opencode.sqlite", "data.db", "db.sqlite"])
    if (existsSync(path.join(dir, name))) return name
  throw new Error(`no database file in ${dir}`)
}

describe("positive controls: every canary reached the server", () => {
  test("the runs ended the way each scenario intends", () => {
    const classification = (name: string) =>
      exports[name]!.run.find((run: any) => run.runId === runs[name]).summary.classification
    expect(classification("toolReload")).toBe("local_instance_reload")
    expect(classification("providerError")).toBe("provider_error")
    expect(classification("cancel")).toBe("user_cancelled")
    expect(classification("dispose")).toBe("local_instance_dispose")
    expect(classification("toolError")).toBe("tool_error")
  })

  test("the tool's refusal was kept with the quoted input digested", () => {
    const chain = exports.toolError!.diagnostics.incidents.find((c: any) => c.runId === runs.toolError)
    expect(chain.error).toMatchObject({ class: "ToolError", code: "path_outside_project" })
    expect(chain.error.excerpt).toMatch(/^path "\[path:[a-f0-9]{16}\]" is outside the project directory/)
  })

  test("the tool input reached the tool (the file holds the content canary) and the provider saw the prompt", () => {
    expect(readFileSync(path.join(project, `notes-${CANARY.toolPath}.txt`), "utf8")).toContain(CANARY.toolContent)
    expect(JSON.stringify(fake.received)).toContain(CANARY.prompt)
    // The server's environment reached the provider: it authenticated with the env key.
    expect(fake.headers[0]!.authorization).toBe(`Bearer ${CANARY.envKey}`)
    const reloaded = exports.toolReload!.full.diagnostics.runs.find((run: any) => run.runId === runs.toolReload)
    expect(reloaded.tools.map((tool: any) => tool.kind)).toEqual(["write"])
    expect(exports.toolReload!.full.incidents[0].retry.safe).toBe(false)
  })

  test("the provider's error was kept as its code and status, never its body", () => {
    const chain = exports.providerError!.diagnostics.incidents.find((c: any) => c.runId === runs.providerError)
    expect(chain.error).toMatchObject({
      code: "provider_http_error",
      status: 500,
      excerpt: "provider answered HTTP 500",
    })
  })

  test("the renderer action was joined to the dispose's chain (its allow-listed fields only)", () => {
    const chain = exports.dispose!.diagnostics.incidents.find((c: any) => c.runId === runs.dispose)
    expect(chain.rendererAction).toEqual({
      actionId: "act_canary_dispose",
      name: "instance.dispose",
      page: "/session/:id",
    })
    expect(exports.dispose!.diagnostics.diagnostics.renderer).toHaveLength(1)
  })

  test("the full export carries the prompt in its messages (user content), so the search can find a canary", () => {
    expect(leaks(exports.toolReload!.full.messages)).toContain("prompt")
    expect(exports.toolReload!.full.session.title).toBeTypeOf("string")
  })
})

describe("no canary leaves through diagnostics", () => {
  test("export diagnostics and incidents, both content forms, every session", () => {
    for (const [name, doc] of Object.entries(exports)) {
      for (const form of ["full", "diagnostics"] as const) {
        expect(SessionExportDocument.safeParse(doc[form]).success, `${name}/${form} parses`).toBe(true)
        expect(leaks(doc[form].diagnostics), `${name}/${form} diagnostics`).toEqual([])
        expect(leaks(doc[form].incidents), `${name}/${form} incidents`).toEqual([])
        // A session is titled by its first prompt: user content, kept by the full form only.
        const { title: _title, ...session } = doc[form].session
        if (form === "diagnostics") expect(_title, `${name}/diagnostics has no title`).toBeUndefined()
        expect(leaks(session), `${name}/${form} session`).toEqual([])
        expect(leaks(doc[form].writer), `${name}/${form} writer`).toEqual([])
      }
    }
  })

  test("the diagnostics-only export holds no canary at all, messages included", () => {
    for (const [name, doc] of Object.entries(exports)) expect(leaks(doc.diagnostics), name).toEqual([])
  })

  test("GET /session/:id/incident", () => {
    for (const [name, doc] of Object.entries(exports)) {
      expect(doc.incident.length, name).toBeGreaterThan(0)
      expect(leaks(doc.incident), name).toEqual([])
    }
  })

  test("GET /session/:id/run summaries (the local API may name the project directory, nothing else)", () => {
    for (const [name, doc] of Object.entries(exports)) expect(leaks(doc.run, ["directory"]), name).toEqual([])
  })

  test("the journal on disk and the stored run summaries (local records may key the project directory, nothing else)", () => {
    expect(journalRows.length).toBeGreaterThan(20)
    const kinds = new Set(journalRows.map((row) => row.kind))
    for (const kind of [
      "run.started",
      "tool.started",
      "run.finished",
      "lifecycle.started",
      "abort_requested",
      "request",
    ])
      expect(kinds, kind).toContain(kind)
    for (const row of journalRows)
      expect(leaks(row.data, ["directory"]), `${row.kind}: ${row.data.slice(0, 300)}`).toEqual([])
    for (const summary of runSummaries) expect(leaks(summary, ["directory"])).toEqual([])
  })
})
