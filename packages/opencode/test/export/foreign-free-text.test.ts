/**
 * Another writer's free text never reaches an export or `explain`: a remote workspace's own
 * chain (kept beside a forwarded run, and as an older build stored it) and an imported export
 * file's records and chains keep codes, status, ids, names and our route templates only. A
 * planted secret and a raw path in every free-form field of the remote's chain and summary, and
 * of an imported file, are checked for in the exported document and in `explain`'s output.
 */
import { afterEach, describe, expect, test } from "vitest"
import { readExport } from "../../src/provenance/export-reader.ts"
import { explainText } from "../../src/provenance/explain.ts"
import { ROUTE_TEMPLATES } from "../../src/provenance/foreign-text.ts"
import { createServerApp } from "../../src/server/app.ts"
import { finishedRun, startApp, type TestServer, waitFor } from "../harness.ts"
import { startOpencodeStub, type OpencodeStub } from "../spine/opencode-stub.ts"

const SECRET = "sk-live-CNRYsecret0123456789abcdef"
const RAW_PATH = "/home/cnry-user/private/notes.txt"

function leaks(value: unknown): string[] {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return [SECRET, RAW_PATH, "cnry"].filter((canary) => text.toLowerCase().includes(canary.toLowerCase()))
}

/** A chain as a hostile writer would send it: the canaries in every field that takes a string. */
function plantedChain(runId: string, sessionId: string): Record<string, unknown> {
  return {
    runId,
    sessionId,
    classification: "provider_error",
    verdict: "diagnosed",
    origin: {
      kind: "api_route",
      request: {
        requestId: "req_remote1",
        route: RAW_PATH,
        method: "POST",
        clientKind: "plain",
        actionHeader: "absent",
      },
      provenance: { complete: true, missing: [] },
    },
    links: [
      { hop: "request", status: "present", ref: RAW_PATH },
      { hop: "run_summary", status: "present", ref: SECRET },
    ],
    missing: [`origin.${SECRET}`, RAW_PATH],
    notRecorded: [SECRET],
    alsoRequestedBy: [{ seq: 1, at: 1, kind: "lifecycle", originKind: "cnry-kind", late: false }],
    retry: { safe: true, basis: ["no_side_effects", SECRET.slice(0, 40)] },
    rendererAction: { actionId: "act_remote1", name: "session.abort", page: "/home/cnry-user/private" },
    error: {
      code: RAW_PATH.slice(0, 60),
      class: SECRET,
      status: 502,
      excerpt: `failed reading ${RAW_PATH} with key ${SECRET}`,
    },
  }
}

describe("a remote workspace's chain", () => {
  let stub: OpencodeStub | undefined
  let local: TestServer | undefined
  afterEach(async () => {
    await local?.close()
    await stub?.close()
  })

  test("keeps codes, status, ids and names only, as received and as an older build stored it", async () => {
    stub = await startOpencodeStub()
    local = await startApp({
      env: { OPENCODE_CONFIG_CONTENT: JSON.stringify({ workspaces: { w1: { url: stub.url } } }) },
    })
    const ws = { "x-opencode-workspace": "w1" }
    const sessionId = (await local.call("POST", "/session", { headers: ws, body: {} })).body.id
    expect(
      (await local.call("POST", `/session/${sessionId}/prompt_async`, { headers: ws, body: { text: "x" } })).status,
    ).toBe(204)
    let localRunId = ""
    await waitFor(() => {
      localRunId = local!.running.host.sessions.runs(sessionId)[0]?.runId ?? ""
      return localRunId !== ""
    })
    const runId = "run_plantedremote1"
    stub.emit({ type: "run.started", properties: { runId, sessionID: sessionId, model: "scripted/slow" } })
    const now = Date.now()
    const summary = {
      runId,
      sessionId,
      seq: 5,
      startedAt: now - 1000,
      finishedAt: now,
      classification: "provider_error",
      provider: { chunks: 3, progress: true },
      watchdog: { fired: false },
      visibleOutput: true,
      tools: [{ callId: "cnry call id", name: "cnry-tool", kind: "read", startedAt: now - 500, status: "completed" }],
      toolFactsRecorded: true,
      retry: { safe: true, basis: ["no_side_effects"] },
      missing: [],
      error: { code: "ECONNRESET", class: "Error", excerpt: `at ${RAW_PATH} ${SECRET}` },
    }
    stub.emit({ type: "run.finished", properties: { summary, incident: plantedChain(runId, sessionId) } })
    expect((await finishedRun(local, sessionId, localRunId)).classification).toBe("remote_interrupted")

    const exportedChain = async () => {
      for (const content of ["diagnostics", "full"]) {
        const doc = await local!.call("GET", `/session/${sessionId}/export?content=${content}`)
        expect(doc.status).toBe(200)
        expect(leaks(doc.body), `export ?content=${content}`).toEqual([])
      }
      const incidents = await local!.call("GET", `/session/${sessionId}/incident`)
      expect(leaks(incidents.body)).toEqual([])
      return (incidents.body as any[]).find((chain) => chain.runId === localRunId).remote.chain
    }
    const chain = await exportedChain()
    expect(chain.error).toEqual({ code: "unknown", class: "unknown", status: 502 })
    expect(chain.origin).toMatchObject({ kind: "api_route", provenance: { complete: false } })
    expect(chain.origin.request).toBeUndefined()
    expect(chain.verdict).not.toBe("diagnosed")
    expect(chain.rendererAction).toBeUndefined()
    // The forwarded run's own tool facts keep a digest of the remote's names, as a local run's do.
    const run = local.running.host.sessions.runs(sessionId)[0]!.summary!
    expect(run.tools).toEqual([
      expect.objectContaining({
        callId: expect.stringMatching(/^call_[a-f0-9]{16}$/),
        name: expect.stringMatching(/^unknown_tool:[a-f0-9]{16}$/),
        kind: "read",
      }),
    ])

    // A remote chain stored verbatim by an older build is allow-listed when it is exported.
    local.running.host.journal.append(
      "remote.chain",
      { runId: localRunId, sessionId },
      { runId: localRunId, workspaceId: "w1", chain: plantedChain(runId, sessionId) },
    )
    expect((await exportedChain()).error).toEqual({ code: "unknown", class: "unknown", status: 502 })
  })
})

describe("an imported export file", () => {
  const now = 1_700_000_000_000
  const file = {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: now,
    writer: { name: "opencode-provenance", version: "0.1.0" },
    session: { id: "ses_imported1", directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [{ info: { id: "msg_1", role: "assistant", error: { name: SECRET } }, parts: [] }],
    diagnostics: {
      runs: [
        {
          runId: "run_imported1",
          sessionId: "ses_imported1",
          seq: 3,
          startedAt: now,
          finishedAt: now + 10,
          classification: "provider_error",
          provider: { chunks: 1, progress: true },
          watchdog: { fired: false },
          visibleOutput: true,
          tools: [],
          toolFactsRecorded: true,
          retry: { safe: true, basis: ["no_side_effects"] },
          missing: [],
          error: {
            code: "provider_http_error",
            class: "ProviderError",
            status: 401,
            excerpt: `denied for ${SECRET} at ${RAW_PATH}`,
          },
        },
        {
          runId: "run_imported2",
          sessionId: "ses_imported1",
          seq: 4,
          startedAt: now,
          finishedAt: now + 10,
          classification: "local_instance_reload",
          interrupt: {
            kind: "lifecycle",
            seq: 5,
            at: now + 5,
            runId: "run_imported2",
            sessionId: "ses_imported1",
            lifecycle: {
              lifecycleId: "lc_imported1",
              operation: "reload",
              rootOperation: "reload",
              rootId: "lc_imported1",
              origin: {
                kind: "api_route",
                request: {
                  requestId: "req_imported1",
                  route: RAW_PATH,
                  method: "POST",
                  clientKind: "plain",
                  actionHeader: "absent",
                },
                provenance: { complete: true, missing: [] },
              },
            },
            phase: "provider_streaming",
            provider: { chunks: 1, progress: true },
            watchdog: { fired: false },
            toolExecutionStarted: false,
          },
          provider: { chunks: 1, progress: true },
          watchdog: { fired: false },
          visibleOutput: true,
          tools: [],
          toolFactsRecorded: true,
          retry: { safe: true, basis: ["no_side_effects"] },
          missing: [],
        },
        {
          runId: "run_imported3",
          sessionId: "ses_imported1",
          seq: 6,
          startedAt: now,
          finishedAt: now,
          classification: `cnry_${SECRET}`,
          provider: { chunks: 0, progress: false },
          watchdog: { fired: false },
          visibleOutput: false,
          tools: [],
          toolFactsRecorded: true,
          retry: { safe: true, basis: [] },
        },
      ],
      lifecycle: [
        {
          lifecycleId: "lc_imported1",
          seq: 2,
          operation: "reload",
          rootOperation: "reload",
          rootId: "lc_imported1",
          origin: {
            kind: "api_route",
            request: {
              requestId: "req_imported1",
              route: RAW_PATH,
              method: "POST",
              clientKind: "plain",
              actionHeader: "absent",
            },
            provenance: { complete: true, missing: [] },
          },
          directoryKeys: ["abcdef0123456789"],
          directoryCount: 1,
          instances: [],
          runIds: ["run_imported2"],
          startedAt: now,
        },
      ],
      requests: [],
      renderer: [],
      crashes: [],
    },
    // A chain with no records in the file: re-checked from its own fields.
    incidents: [plantedChain("run_imported9", "ses_imported1")],
  }

  test("explain's text and --json output keep codes, status, ids and names only", () => {
    const result = readExport(JSON.parse(JSON.stringify(file)))
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(leaks(explainText(result)), explainText(result)).toEqual([])
    const json = {
      format: result.format,
      version: result.version,
      warnings: result.warnings,
      notRecorded: result.notRecorded,
      unknownFields: result.unknownFields,
      incidents: result.incidents,
    }
    expect(leaks(json)).toEqual([])
    expect(leaks(result.stoppedMessages)).toEqual([])
    const byRun = new Map(result.incidents.map((chain) => [chain.runId, chain]))
    expect(byRun.get("run_imported1")!.error).toEqual({
      code: "provider_http_error",
      class: "ProviderError",
      status: 401,
    })
    // The request whose route is not one of ours is not a request we can name: the chain says so.
    expect(byRun.get("run_imported2")!.missing).toContain("origin.request")
    expect(byRun.get("run_imported9")!.error).toEqual({ code: "unknown", class: "unknown", status: 502 })
  })
})

test("the route templates free text is checked against are exactly the app's routes", async () => {
  const server = await startApp({ token: "route-templates-token-0123456789" })
  try {
    const routes = createServerApp(server.running.host, {
      defaultDirectory: server.project(),
      token: "route-templates-token-0123456789",
    })
      .routes.filter((route) => route.method !== "ALL")
      .map((route) => route.path)
    expect([...new Set(routes)].sort()).toEqual([...ROUTE_TEMPLATES].sort())
  } finally {
    await server.close()
  }
})
