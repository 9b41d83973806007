/**
 * `explain --otlp` turns a file's records into spans (`exportRecords` → `traceSpans`). A file can
 * come from another writer or be hand-edited, so every string its records hold is planted with a
 * canary here, one field at a time and all at once: none reaches a span's name, attribute, status,
 * event or link. The server's own templates, methods, pages and model references still do, exactly.
 */
import { readFileSync } from "node:fs"
import { describe, expect, test } from "vitest"
import { readExport } from "../../src/provenance/export-reader.ts"
import { exportRecords, modelToken } from "../../src/provenance/export-records.ts"
import { PAGE_TEMPLATES, ROUTE_TEMPLATES, UNKNOWN_PAGE } from "../../src/provenance/foreign-text.ts"
import { ClientAction, IncidentChain, RequestContext } from "../../src/provenance/schemas.ts"
import { type TraceSpan, traceSpans, UNMATCHED_ROUTE } from "../../src/provenance/trace-mapping.ts"
import { UNMATCHED_ROUTE as SERVER_UNMATCHED_ROUTE } from "../../src/server/middleware/request-context.ts"

type Doc = Record<string, any>

/** Every canary holds `cnry`: a span that holds it, in any case, leaked. */
const SECRET = "sk-live-CNRYsecret0123456789abcdef"
const PATH = "/home/cnry-user/acme-merger/notes.txt?api_key=cnryhunter2"
const PROMPT = "cnry please summarise my acme merger notes"
/** For fields a pattern allows only lowercase letters, digits, `_` and `.` in: a key in that shape. */
const LOWER_KEY = "cnry0123456789abcdef0123"

const fixture = (): Doc => JSON.parse(readFileSync(new URL("../fixtures/export-v2.json", import.meta.url), "utf8"))

/** What `explain --otlp` does (cli/explain.ts, sendOtlp). */
function otlpSpans(doc: Doc): TraceSpan[] {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const records = exportRecords(doc)
  return traceSpans({
    chains: read.incidents,
    ...records,
    stoppedMessages: read.stoppedMessages,
    ...(read.session?.id ? { sessionId: read.session.id } : {}),
    fallbackTimeMs: records.exportedAt ?? 0,
  })
}

/** Every string a span carries: its name, attribute values, status message, events' and links' attributes. */
function spanStrings(spans: readonly TraceSpan[]): string[] {
  const values = (attributes: Record<string, unknown>) => Object.values(attributes).flat().map(String)
  return spans.flatMap((span) => [
    span.name,
    ...values(span.attributes),
    span.status.message ?? "",
    ...span.events.flatMap((event) => [event.name, ...values(event.attributes)]),
    ...span.links.flatMap((link) => values(link.attributes)),
  ])
}

const leaks = (spans: readonly TraceSpan[]) => spanStrings(spans).filter((value) => /cnry/i.test(value))

const recordCounts = (doc: Doc) =>
  Object.fromEntries(
    Object.entries(exportRecords(doc)).map(([key, value]) => [key, Array.isArray(value) ? value.length : value]),
  )

const BASELINE_COUNTS = recordCounts(fixture())

const interrupted = (doc: Doc, runId: string) => doc.diagnostics.runs.find((run: Doc) => run.runId === runId)

/** A claim for a run the file has no records of: read back through the reader's allow-list, then mapped. */
function plantedClaim(): Doc {
  return {
    runId: "run_claim1",
    sessionId: "ses_fixture2",
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    rootOperation: "reload",
    lifecycleId: "lc_claim1",
    origin: {
      kind: "api_route",
      request: {
        requestId: "req_claim1",
        route: PATH,
        method: "CNRY",
        clientKind: "app",
        actionId: "act_claim1",
        actionName: LOWER_KEY,
        actionHeader: "present",
      },
      provenance: { complete: true, missing: [] },
    },
    links: [
      { hop: "renderer", status: "present", ref: PATH.slice(0, 96), source: "client_reported" },
      { hop: "request", status: "present", ref: SECRET, source: "server" },
      { hop: "lifecycle", status: "present", ref: "lc_claim1", source: "server" },
      { hop: "interrupt", status: "present", source: "server" },
      { hop: "run_summary", status: "missing" },
    ],
    missing: [PROMPT],
    alsoRequestedBy: [{ seq: 1, at: 1, kind: "lifecycle", originKind: "cnry secret", late: false }],
    retry: { safe: "unknown", basis: [PROMPT, SECRET] },
    rendererAction: { actionId: "act_claim1", name: LOWER_KEY, page: "/home/cnry-user/acme-merger" },
    notRecorded: [PROMPT],
    error: { code: SECRET, class: PATH.slice(0, 64), excerpt: PROMPT },
  }
}

/**
 * One plant per free-text field of a file's records. `reaches` proves the plant was not simply
 * refused by a schema upstream: the record it sits in is still read, and still mapped.
 */
const plants: { field: string; plant: (doc: Doc) => void; reaches?: (doc: Doc) => void }[] = [
  { field: "requests[].route (a path and query)", plant: (doc) => (doc.diagnostics.requests[0].route = PATH) },
  { field: "requests[].route (a key)", plant: (doc) => (doc.diagnostics.requests[0].route = SECRET) },
  { field: "requests[].method", plant: (doc) => (doc.diagnostics.requests[0].method = "CNRY /home/al") },
  {
    field: "requests[].clientVersion",
    plant: (doc) => (doc.diagnostics.requests[0].clientVersion = "cnry-key-0a1b2c3d4e5f6a7b8c"),
  },
  { field: "requests[].directoryKey", plant: (doc) => (doc.diagnostics.requests[0].directoryKey = PATH) },
  { field: "requests[].workspaceId", plant: (doc) => (doc.diagnostics.requests[0].workspaceId = SECRET) },
  { field: "requests[].traceparent", plant: (doc) => (doc.diagnostics.requests[0].traceparent = `00-${SECRET}`) },
  { field: "requests[].actionName", plant: (doc) => (doc.diagnostics.requests[0].actionName = LOWER_KEY) },
  { field: "renderer[].page", plant: (doc) => (doc.diagnostics.renderer[0].page = "/home/cnry-user/acme-merger") },
  { field: "renderer[].name", plant: (doc) => (doc.diagnostics.renderer[0].name = LOWER_KEY) },
  {
    field: "lifecycle[].origin.request (route, method, action name)",
    plant: (doc) =>
      Object.assign(doc.diagnostics.lifecycle[0].origin.request, {
        route: PATH,
        method: "CNRY",
        actionName: LOWER_KEY,
      }),
  },
  {
    field: "lifecycle[].origin.handler",
    plant: (doc) =>
      (doc.diagnostics.lifecycle[0].origin = {
        kind: "server_handler",
        handler: LOWER_KEY,
        provenance: { complete: true, missing: [] },
      }),
  },
  {
    field: "lifecycle[].origin.closeSite",
    plant: (doc) =>
      (doc.diagnostics.lifecycle[0].origin = {
        kind: "unknown",
        closeSite: SECRET,
        provenance: { complete: false, missing: [] },
      }),
  },
  {
    field: "lifecycle[].origin.workspaceId",
    plant: (doc) =>
      (doc.diagnostics.lifecycle[0].origin = {
        kind: "forwarded_remote",
        workspaceId: SECRET,
        provenance: { complete: true, missing: [] },
      }),
  },
  { field: "lifecycle[].directoryKeys", plant: (doc) => (doc.diagnostics.lifecycle[0].directoryKeys = [PATH, SECRET]) },
  {
    field: "lifecycle[].failed (code, class)",
    plant: (doc) => (doc.diagnostics.lifecycle[0].failed = [{ step: "abort", code: SECRET, class: PATH.slice(0, 64) }]),
  },
  { field: "runs[].model (an absolute path)", plant: (doc) => (doc.diagnostics.runs[0].model = PATH) },
  {
    field: "runs[].model (a path without its slash)",
    plant: (doc) => (doc.diagnostics.runs[0].model = "home/cnry-user/acme"),
  },
  { field: "runs[].model (a Windows path)", plant: (doc) => (doc.diagnostics.runs[0].model = "C:/Users/cnry/acme") },
  { field: "runs[].model (a key)", plant: (doc) => (doc.diagnostics.runs[0].model = `openai/${SECRET}`) },
  { field: "runs[].model (a prompt)", plant: (doc) => (doc.diagnostics.runs[0].model = PROMPT) },
  {
    field: "runs[].error (code, class, excerpt)",
    plant: (doc) => (doc.diagnostics.runs[0].error = { code: SECRET, class: PATH.slice(0, 64), excerpt: PROMPT }),
  },
  {
    field: "runs[].tools[] (name, callId)",
    plant: (doc) => Object.assign(doc.diagnostics.runs[0].tools[0], { name: PATH.slice(0, 64), callId: SECRET }),
  },
  { field: "runs[].closeSite", plant: (doc) => (doc.diagnostics.runs[0].closeSite = SECRET) },
  { field: "runs[].directoryKey", plant: (doc) => (doc.diagnostics.runs[0].directoryKey = PATH) },
  { field: "runs[].missing", plant: (doc) => (doc.diagnostics.runs[0].missing = [PROMPT, PATH]) },
  { field: "runs[].retry.basis", plant: (doc) => (doc.diagnostics.runs[0].retry.basis = [PROMPT, SECRET]) },
  {
    field: "runs[].interrupt.lifecycle.origin.request (route, method, action name)",
    plant: (doc) =>
      Object.assign(doc.diagnostics.runs[0].interrupt.lifecycle.origin.request, {
        route: PATH,
        method: "CNRY",
        actionName: LOWER_KEY,
      }),
  },
  {
    field: "runs[].interrupt.request (a user cancel's route, method, action name)",
    plant: (doc) =>
      Object.assign(interrupted(doc, "run_cancel1").interrupt.request, {
        route: PATH,
        method: "CNRY",
        actionName: LOWER_KEY,
      }),
  },
  { field: "runs[].interrupt.workspaceId", plant: (doc) => (doc.diagnostics.runs[0].interrupt.workspaceId = SECRET) },
  {
    field: "runs[].alsoRequestedBy[].originKind",
    plant: (doc) => (interrupted(doc, "run_global1").alsoRequestedBy[0].originKind = "cnry secret"),
  },
  { field: "crashes[].bootId", plant: (doc) => (doc.diagnostics.crashes[0].bootId = SECRET) },
  {
    field: "crashes[].tools[] (name, callId)",
    plant: (doc) =>
      (doc.diagnostics.crashes[0].tools = [
        { callId: SECRET, name: PATH.slice(0, 64), kind: "write", startedAt: 1767228401000, status: "running" },
      ]),
  },
  {
    field: "session.id and a stopped message's id and error name",
    plant: (doc) => {
      doc.session.id = SECRET
      doc.messages[1].info.id = "CNRYsecret0123456789abcdef"
      doc.messages[1].info.error = { name: SECRET, data: { message: PROMPT } }
    },
    reaches: (doc) => {
      const read = readExport(doc)
      expect(read.ok && read.stoppedMessages.length).toBe(1)
      expect(otlpSpans(doc).some((span) => span.name === "missing origin")).toBe(true)
    },
  },
  {
    field: "incidents[] (a claim's origin, refs, names, renderer action, error)",
    plant: (doc) => doc.incidents.push(plantedClaim()),
    reaches: (doc) => {
      const read = readExport(doc)
      expect(read.ok && read.incidents.map((chain) => chain.runId)).toContain("run_claim1")
      expect(otlpSpans(doc).some((span) => span.attributes["app.run.id"] === "run_claim1")).toBe(true)
    },
  },
]

describe("explain --otlp: a file's free text never reaches a span", () => {
  test.each(plants)("$field", ({ plant, reaches }) => {
    const doc = fixture()
    plant(doc)
    if (reaches) reaches(doc)
    // The planted record is still read (a schema did not simply refuse it) and still mapped.
    else expect(recordCounts(doc)).toEqual(BASELINE_COUNTS)
    const spans = otlpSpans(doc)
    expect(spans.length).toBeGreaterThan(0)
    expect(leaks(spans)).toEqual([])
    expect(JSON.stringify(spans).toLowerCase()).not.toContain("cnry")
  })

  test("every plant at once", () => {
    const doc = fixture()
    for (const { plant } of plants) plant(doc)
    const spans = otlpSpans(doc)
    expect(spans.length).toBeGreaterThan(0)
    expect(leaks(spans)).toEqual([])
    expect(JSON.stringify(spans).toLowerCase()).not.toContain("cnry")
  })

  test("a foreign route or page becomes the app's own unknown, never a guess at a template", () => {
    const doc = fixture()
    doc.diagnostics.requests[0].route = PATH
    doc.diagnostics.requests[0].method = "CNRY"
    doc.diagnostics.renderer[0].page = "/home/cnry-user/acme-merger"
    const spans = otlpSpans(doc)
    const action = spans.find((span) => span.name === "user_action instance.reload")!
    expect(action.attributes["app.page"]).toBe(UNKNOWN_PAGE)
    // The chain's own request (its template and method, read from the lifecycle record) names the span.
    const request = spans.find((span) => span.attributes["app.request.id"] === "req_reload1")!
    expect(request.name).toBe("POST /instance/reload")
    expect(request.attributes["http.route"]).toBe("/instance/reload")
  })
})

describe("traceSpans itself keeps only tokens (the server's live path hands it records directly)", () => {
  test("a client-uploaded page and action name, a chain's origin and renderer detail, a stopped message: no span holds them", () => {
    const doc = fixture()
    const read = readExport(doc)
    if (!read.ok) throw new Error(read.error)
    const records = exportRecords(doc)
    const renderer = [
      ClientAction.parse({ ...doc.diagnostics.renderer[0], page: "/home/cnry-user/x", name: LOWER_KEY }),
    ]
    const requests = [
      RequestContext.parse({ ...doc.diagnostics.requests[0], route: PATH, method: "CNRY", actionName: LOWER_KEY }),
    ]
    const chains = read.incidents.map((chain) =>
      IncidentChain.parse({
        ...chain,
        rendererAction: { actionId: "act_reload1", name: LOWER_KEY, page: "/home/cnry-user/x" },
        origin: {
          ...chain.origin,
          kind: "cnry secret",
          workspaceId: "cnry/../home",
          request: { requestId: "req_reload1", route: PATH, method: "CNRY", actionName: LOWER_KEY },
          handler: PATH,
        },
      }),
    )
    const stoppedMessages = [{ messageId: SECRET, error: PROMPT }]
    const spans = traceSpans({
      ...records,
      chains,
      renderer,
      requests,
      stoppedMessages,
      sessionId: SECRET,
      fallbackTimeMs: 0,
    })
    expect(spans.some((span) => span.name.startsWith("user_action "))).toBe(true)
    expect(leaks(spans)).toEqual([])
  })
})

describe("our own values still reach the spans exactly", () => {
  const spanOf = (spans: TraceSpan[], requestId: string) =>
    spans.find((span) => span.kind === "server" && span.attributes["app.request.id"] === requestId)!

  test("the fixture's routes, methods, page, action names, model and tools", () => {
    const spans = otlpSpans(fixture())
    const names = spans.map((span) => span.name)
    expect(names).toEqual(
      expect.arrayContaining([
        "user_action instance.reload",
        "POST /instance/reload",
        "PATCH /global/config",
        "user_action session.abort",
        "POST /session/:id/abort",
        "execute_tool read",
        "execute_tool write",
      ]),
    )
    expect(spanOf(spans, "req_reload1").attributes["http.route"]).toBe("/instance/reload")
    expect(spanOf(spans, "req_reload1").attributes["http.request.method"]).toBe("POST")
    expect(spans.find((span) => span.name === "user_action instance.reload")!.attributes["app.page"]).toBe(
      "/session/:id",
    )
    const run = spans.find((span) => span.attributes["app.run.id"] === "run_reload1" && span.name === "invoke_agent")!
    expect(run.attributes["gen_ai.provider.name"]).toBe("scripted")
    expect(run.attributes["gen_ai.request.model"]).toBe("slow")
    const tool = spans.find((span) => span.name === "execute_tool read")!
    expect(tool.attributes["gen_ai.tool.call.id"]).toBe("call_1")
  })

  test.each([...ROUTE_TEMPLATES, UNMATCHED_ROUTE])("route %s", (route) => {
    const doc = fixture()
    doc.diagnostics.requests[0].route = route
    const span = spanOf(otlpSpans(doc), "req_reload1")
    expect(span.name).toBe(`POST ${route}`)
    expect(span.attributes["http.route"]).toBe(route)
  })

  test.each(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])("method %s", (method) => {
    const doc = fixture()
    doc.diagnostics.requests[0].method = method
    const span = spanOf(otlpSpans(doc), "req_reload1")
    expect(span.name).toBe(`${method} /instance/reload`)
    expect(span.attributes["http.request.method"]).toBe(method)
  })

  test.each([...PAGE_TEMPLATES, UNKNOWN_PAGE])("page %s", (page) => {
    const doc = fixture()
    doc.diagnostics.renderer[0].page = page
    const span = otlpSpans(doc).find((span) => span.name === "user_action instance.reload")!
    expect(span.attributes["app.page"]).toBe(page)
  })

  test.each([
    ["anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"],
    ["openrouter/meta-llama/llama-3.1-70b-instruct", "openrouter", "meta-llama/llama-3.1-70b-instruct"],
    [
      "amazon-bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
      "amazon-bedrock",
      "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ],
    ["ollama/llama3.1:8b-instruct-q4_K_M", "ollama", "llama3.1:8b-instruct-q4_K_M"],
    ["gpt-4o-mini", undefined, "gpt-4o-mini"],
  ])("model %s", (model, provider, name) => {
    expect(modelToken(model)).toBe(model)
    const doc = fixture()
    doc.diagnostics.runs[0].model = model
    const run = otlpSpans(doc).find(
      (span) => span.attributes["app.run.id"] === "run_reload1" && span.name === "invoke_agent",
    )!
    expect(run.attributes["gen_ai.provider.name"]).toBe(provider)
    expect(run.attributes["gen_ai.request.model"]).toBe(name)
  })

  test("the unmatched-route mark is the request-context middleware's", () => {
    expect(UNMATCHED_ROUTE).toBe(SERVER_UNMATCHED_ROUTE)
  })
})
