/**
 * The export through its two doors, against a real server: `GET /session/:id/export` and, after
 * the server has closed, `opencode export SESSION_ID --data-dir DIR` in a child process. Both
 * give the same document (but for `exportedAt`), it parses with the published schema, the
 * diagnostics-only form leaves out message text and the title, and reading the written file
 * back re-derives the server's incidents.
 */
import { execFile } from "node:child_process"
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { appHeaders, BIN, finishedRun, startApp, tempDir, waitFor, type TestServer } from "../harness.ts"
import { readExport, SessionExportDocument } from "../../src/provenance/index.ts"

const run = promisify(execFile)
const TITLE = "Title-secret-7c1d refactor the billing code"
const PROMPT = "prompt-secret-91ab please refactor"

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }
  }
}

const withoutTime = ({ exportedAt: _t, ...rest }: any) => rest

let server: TestServer
let dataDir: string
let outDir: string
let sessionId: string
const runIds: Record<string, string> = {}
let routeFull: any
let routeDiagnostics: any
let routeIncidents: any[]

beforeAll(async () => {
  dataDir = tempDir("oc-export-data-")
  outDir = tempDir("oc-export-out-")
  server = await startApp({ dataDir })
  const dir = server.project()
  const session = await server.call("POST", "/session", { directory: dir, body: { title: TITLE } })
  sessionId = session.body.id
  const prompt = async (name: string, model: string) => {
    const res = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: `${PROMPT} (${name})`, model },
    })
    expect(res.status).toBe(200)
    runIds[name] = res.body.runId
  }
  const hasOutput = async (name: string) => {
    const messages = await server.call("GET", `/session/${sessionId}/message`)
    return (messages.body as any[]).some(
      (m) =>
        m.info.runId === runIds[name] &&
        m.info.role === "assistant" &&
        m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
    )
  }
  // A completed run, a run closed by a reload from the app, one written a file before a dispose
  // from a plain client, and one the user cancelled.
  await prompt("quick", "scripted/quick")
  await finishedRun(server, sessionId, runIds.quick!)
  await prompt("reload", "scripted/slow")
  await waitFor(() => hasOutput("reload"))
  expect(
    (
      await server.call("POST", "/instance/reload", {
        directory: dir,
        headers: appHeaders("instance.reload", "act_export_reload"),
      })
    ).status,
  ).toBe(200)
  await finishedRun(server, sessionId, runIds.reload!)
  await prompt("tool", "scripted/tool-write")
  await waitFor(async () =>
    (await server.call("GET", `/session/${sessionId}/message`)).body.some((m: any) =>
      m.parts.some((p: any) => p.type === "tool"),
    ),
  )
  await waitFor(() => hasOutput("tool"))
  expect((await server.call("POST", "/instance/dispose", { directory: dir })).status).toBe(200)
  await finishedRun(server, sessionId, runIds.tool!)
  await prompt("cancel", "scripted/slow")
  await waitFor(() => hasOutput("cancel"))
  await server.call("POST", `/session/${sessionId}/abort`, { directory: dir })
  await finishedRun(server, sessionId, runIds.cancel!)

  routeFull = (await server.call("GET", `/session/${sessionId}/export`)).body
  routeDiagnostics = (await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)).body
  routeIncidents = (await server.call("GET", `/session/${sessionId}/incident`)).body
  await server.close()
}, 60_000)

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(outDir, { recursive: true, force: true })
})

describe("GET /session/:id/export", () => {
  test("holds the session's four runs and an incident for each of the three interrupted ones", () => {
    expect(routeFull.diagnostics.runs.map((r: any) => r.runId).sort()).toEqual(Object.values(runIds).sort())
    const byRun = Object.fromEntries(routeFull.incidents.map((chain: any) => [chain.runId, chain]))
    expect(Object.keys(byRun).sort()).toEqual([runIds.reload, runIds.tool, runIds.cancel].sort())
    expect(byRun[runIds.reload!]).toMatchObject({
      classification: "local_instance_reload",
      verdict: "diagnosed",
      operation: "reload",
      missing: [],
    })
    expect(byRun[runIds.tool!]).toMatchObject({
      classification: "local_instance_dispose",
      verdict: "diagnosed",
      retry: { safe: false },
    })
    expect(byRun[runIds.cancel!]).toMatchObject({ classification: "user_cancelled" })
    expect(routeFull.diagnostics.lifecycle.map((a: any) => a.operation).sort()).toEqual(["dispose", "reload"])
    expect(routeFull.diagnostics.truncated).toEqual({})
  })

  test("parses with the one schema of the document, losing and adding nothing", () => {
    for (const doc of [routeFull, routeDiagnostics]) expect(SessionExportDocument.parse(doc)).toEqual(doc)
  })

  test("the full form has the title and the prompt; the diagnostics form has neither, nor any message text", () => {
    expect(routeFull.session.title).toBe(TITLE)
    expect(JSON.stringify(routeFull.messages)).toContain(PROMPT)
    expect(routeDiagnostics.session).not.toHaveProperty("title")
    const text = JSON.stringify(routeDiagnostics)
    expect(text).not.toContain("Title-secret")
    expect(text).not.toContain("prompt-secret")
    expect(text).not.toContain("Working on step")
    for (const message of routeDiagnostics.messages) {
      for (const part of message.parts)
        if (part.type === "text") expect(Object.keys(part).sort()).toEqual(["id", "length", "type"])
    }
    // Same structure otherwise: the message and part ids, diagnostics and incidents are those of the full form.
    expect(routeDiagnostics.messages.map((m: any) => m.parts.map((p: any) => p.id))).toEqual(
      routeFull.messages.map((m: any) => m.parts.map((p: any) => p.id)),
    )
    expect(routeDiagnostics.diagnostics).toEqual(routeFull.diagnostics)
    expect(routeDiagnostics.incidents).toEqual(routeFull.incidents)
  })

  test("paths leave as digests: no absolute path anywhere in the diagnostics form", () => {
    expect(JSON.stringify(routeDiagnostics)).not.toMatch(/\/tmp\/|oc-proj-/)
    expect(routeDiagnostics.session.directory).toEqual({
      digest: expect.stringMatching(/^[a-f0-9]{16}$/),
      depth: expect.any(Number),
    })
  })

  test("the incident route answers the export's incidents", () => {
    expect(routeIncidents).toEqual(routeFull.incidents)
  })
})

describe("opencode export SESSION_ID --data-dir DIR (after the server closed)", () => {
  test("stdout is the route's document, but for exportedAt", async () => {
    const { code, stdout, stderr } = await cli(["export", sessionId, "--data-dir", dataDir])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    const doc = JSON.parse(stdout)
    expect(doc.exportedAt).toBeGreaterThanOrEqual(routeFull.exportedAt)
    expect(withoutTime(doc)).toEqual(withoutTime(routeFull))
  })

  test("--diagnostics-only --out FILE writes the route's diagnostics form", async () => {
    const file = path.join(outDir, "diag.json")
    const { code, stdout } = await cli([
      "export",
      sessionId,
      "--diagnostics-only",
      "--out",
      file,
      "--data-dir",
      dataDir,
    ])
    expect(code).toBe(0)
    expect(stdout).toBe("")
    const doc = JSON.parse(readFileSync(file, "utf8"))
    expect(withoutTime(doc)).toEqual(withoutTime(routeDiagnostics))
    expect(SessionExportDocument.parse(doc)).toEqual(doc)
  })

  test("readExport of the written file re-derives the server's incidents: verdicts, missing, classification, retry", async () => {
    const file = path.join(outDir, "full.json")
    expect((await cli(["export", sessionId, "--out", file, "--data-dir", dataDir])).code).toBe(0)
    const result = readExport(readFileSync(file, "utf8"))
    if (!result.ok) throw new Error(result.error)
    expect(result.format).toBe("v2")
    expect(result.warnings).toEqual([])
    expect(result.unknownFields).toEqual([])
    const pick = (chains: any[]) =>
      chains
        .map((c) => ({
          runId: c.runId,
          classification: c.classification,
          verdict: c.verdict,
          missing: c.missing,
          retry: c.retry,
          operation: c.operation,
          links: c.links,
        }))
        .sort((a, b) => a.runId.localeCompare(b.runId))
    expect(pick(result.incidents)).toEqual(pick(routeIncidents))
    expect(result.counts).toMatchObject({ runs: 4, lifecycle: 2 })
  })

  test("an unknown session: one sentence on stderr and exit 1", async () => {
    const { code, stdout, stderr } = await cli(["export", "ses_doesnotexist", "--data-dir", dataDir])
    expect(code).toBe(1)
    expect(stdout).toBe("")
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(stderr).toContain("no session ses_doesnotexist")
  })

  test("a data dir with no database: one sentence, exit 1, and nothing created there", async () => {
    const empty = path.join(outDir, "no-data-here")
    const { code, stderr } = await cli(["export", sessionId, "--data-dir", empty])
    expect(code).toBe(1)
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(stderr).toContain("no opencode data in")
    expect(existsSync(empty)).toBe(false)
  })

  test("--out FILE is owner-only (0600), and an existing file is replaced by an owner-only one", async () => {
    // The file can hold a session's history: under the usual umask 022 a plain write would be 0644.
    const fresh = path.join(outDir, "fresh.json")
    expect((await cli(["export", sessionId, "--out", fresh, "--data-dir", dataDir])).code).toBe(0)
    expect(statSync(fresh).mode & 0o777).toBe(0o600)
    const existing = path.join(outDir, "existing.json")
    writeFileSync(existing, "old")
    chmodSync(existing, 0o644)
    expect((await cli(["export", sessionId, "--out", existing, "--data-dir", dataDir])).code).toBe(0)
    expect(statSync(existing).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(existing, "utf8")).session.id).toBe(sessionId)
  })

  test("--out into a directory that does not exist: one sentence, exit 1, no stack trace", async () => {
    const { code, stderr } = await cli([
      "export",
      sessionId,
      "--out",
      path.join(outDir, "missing", "x.json"),
      "--data-dir",
      dataDir,
    ])
    expect(code).toBe(1)
    expect(stderr.trim().split("\n")).toHaveLength(1)
    expect(stderr).toMatch(/^opencode export: /)
  })

  test("no session id, or an unknown flag: a usage sentence, exit non-zero, no stack trace", async () => {
    for (const args of [["export"], ["export", sessionId, "--bogus"]]) {
      const { code, stderr } = await cli([...args, "--data-dir", dataDir])
      expect(code, args.join(" ")).not.toBe(0)
      expect(stderr).toMatch(/^opencode/)
      expect(stderr).not.toMatch(/^\s+at /m)
    }
  })
})
