/**
 * `GET /session/:id/export` answers `sessionExportText`: the document `buildSessionExport`
 * returns, as the exact text `JSON.stringify` writes, though a run summary this build stored goes
 * in as its stored JSON (its directory key swapped for the digest) instead of being serialised
 * again. Checked byte for byte against `JSON.stringify` of the document: records of this build
 * and of another, both content forms, a summary whose text holds its directory key twice, and a
 * real server's session (an interrupted run, its reload, the renderer's action) over HTTP.
 */
import { rmSync } from "node:fs"
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest"
import { createHost, type Host } from "../../src/host.ts"
import { buildSessionExport, sessionExportText } from "../../src/session/export.ts"
import { appHeaders, finishedRun, startRun, startTestServer, tempDir, type TestServer } from "../harness.ts"
import { clientAction, interruptedRun, lifecycleAction, plainRequest, requestContext } from "../provenance/records.ts"

/** The two texts with `exportedAt` (the only field that differs between two calls) set alike. */
const sameTime = (text: string) => text.replace(/^\{"schema":("[^"]*"),"version":(\d+),"exportedAt":\d+,/, '{"schema":$1,"version":$2,"exportedAt":0,')

describe("sessionExportText against JSON.stringify of the document", () => {
  let dataDir: string
  let host: Host
  const insertRow = (bootId: string, kind: string, links: { lifecycleId?: string; sessionId?: string }, data: string, seq: number) =>
    host.db
      .prepare("INSERT INTO journal (seq, time, boot_id, kind, run_id, lifecycle_id, session_id, data) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)")
      .run(seq, 1, bootId, kind, links.lifecycleId ?? null, links.sessionId ?? null, data)

  beforeAll(() => {
    dataDir = tempDir("oc-export-text-")
    host = createHost({ dataDir, env: {} })
    host.db.prepare("INSERT INTO boot (id, pid, started_at, last_seen, record_format) VALUES ('boot_older', 1, 1, 1, 'older-build')").run()
    host.db.prepare("INSERT INTO session (id, directory, directory_key, project_id, title, created, updated) VALUES ('ses_t', '/work/project', '/work/project', 'global', 'a \"quoted\" title', 1, 1)").run()
    const actions = ["lc_mine", "lc_older", "lc_twice"].map((id, i) =>
      lifecycleAction(id, "reload", { kind: "api_route", request: plainRequest({ requestId: `req_${id}`, actionId: `act_${id}` }) }, { runIds: [`run_${id}`], seq: 10 + i }),
    )
    host.journal.append("lifecycle.finished", { lifecycleId: "lc_mine" }, actions[0])
    insertRow("boot_older", "lifecycle.finished", { lifecycleId: "lc_older" }, JSON.stringify(actions[1]), 1_000)
    // This build's record whose text names its directory keys a second time, deeper down: the swap cannot tell them apart.
    host.journal.append("lifecycle.finished", { lifecycleId: "lc_twice" }, { ...actions[2], note: { directoryKeys: ["/work/project"] } })
    host.journal.append("request", { sessionId: "ses_t" }, requestContext(plainRequest({ requestId: "req_lc_mine", actionId: "act_lc_mine" }), 5))
    host.journal.append("request", { sessionId: "ses_t" }, { ...requestContext(plainRequest({ requestId: "req_lc_twice" }), 7), note: '"directoryKey":"/work/project"' })
    insertRow("boot_older", "request", { sessionId: "ses_t" }, JSON.stringify(requestContext(plainRequest({ requestId: "req_lc_older" }), 6)), 1_002)
    host.journal.append("renderer", {}, clientAction("act_lc_mine", "instance.reload", ["req_lc_mine"]))
    for (const [i, action] of actions.entries()) {
      const runId = action.runIds[0]!
      host.sessions.insertRun({ runId, sessionId: "ses_t", directoryKey: "/work/project", instanceId: "ins_t", generation: 1, model: "scripted/quick", bootId: host.bootId, startedAt: 100 + i })
      host.sessions.finishRun(interruptedRun(runId, action, { sessionId: "ses_t", directoryKey: "/work/project", seq: 20 + i, startedAt: 100 + i, finishedAt: 200 + i }))
    }
    // A summary of this build whose text names its directory key a second time, deeper down: the swap cannot tell them apart.
    host.sessions.insertRun({ runId: "run_twice", sessionId: "ses_t", directoryKey: "/work/project", instanceId: "ins_t", generation: 1, model: "scripted/quick", bootId: host.bootId, startedAt: 110 })
    host.sessions.finishRun({ ...interruptedRun("run_twice", actions[2]!, { sessionId: "ses_t", directoryKey: "/work/project", seq: 30, startedAt: 110, finishedAt: 210 }), note: { directoryKey: "/work/project" } } as never)
    const message = host.sessions.createMessage({ sessionID: "ses_t", role: "user" })
    host.sessions.savePart({ id: "prt_1", sessionID: "ses_t", messageID: message.id, type: "text", text: "line one\nline \"two\" \u2028 é" }, 0)
  })

  afterAll(() => {
    host.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test.each(["full", "diagnostics"] as const)("content=%s: the same text, byte for byte", (content) => {
    const text = sessionExportText(host, "ses_t", content)!
    const doc = buildSessionExport(host, "ses_t", content)!
    expect(sameTime(text)).toBe(sameTime(JSON.stringify(doc)))
    // Every record's own directory key went out as its digest, the ones stored twice included (the
    // copies deeper down are part of what this build stored, and go out as the document has them).
    const digest = doc.diagnostics.lifecycle[0]!.directoryKeys[0]
    expect(digest).toMatch(/^[0-9a-f]{16}$/)
    for (const action of doc.diagnostics.lifecycle) expect(action.directoryKeys).toEqual([digest])
    for (const request of doc.diagnostics.requests) expect(request.directoryKey).toBe(digest)
    for (const run of doc.diagnostics.runs) expect(run.directoryKey).toBe(digest)
    expect(doc.diagnostics.runs.map((r) => r.runId)).toContain("run_twice")
    expect(doc.diagnostics.lifecycle.map((a) => a.lifecycleId)).toEqual(["lc_mine", "lc_older", "lc_twice"])
    expect(doc.diagnostics.requests.map((r) => r.requestId).sort()).toEqual(["req_lc_mine", "req_lc_older", "req_lc_twice"])
  })

  test("small caps: the kept records still splice to the same text", () => {
    expect(sameTime(sessionExportText(host, "ses_t", "full", 1)!)).toBe(sameTime(JSON.stringify(buildSessionExport(host, "ses_t", "full", 1))))
  })

  test("a run summary of this build goes out as its stored text, one of another build is serialised", () => {
    // The same kind of summary as stored by this build and by another, each text spelling a letter as an escape.
    const spelled = (runId: string) => JSON.stringify(interruptedRun(runId, lifecycleAction(`lc_${runId}`, "reload", { kind: "api_route", request: plainRequest() }), { sessionId: "ses_t", directoryKey: "/work/project", seq: 40, startedAt: 300, finishedAt: 400 })).replace('"/instance/dispose"', '"/instance/\\u0064ispose"')
    for (const [runId, boot] of [["run_spelled_mine", host.bootId], ["run_spelled_older", "boot_older"]] as const) {
      host.sessions.insertRun({ runId, sessionId: "ses_t", directoryKey: "/work/project", instanceId: "ins_t", generation: 1, model: "scripted/quick", bootId: host.bootId, startedAt: 300 })
      host.db.prepare("UPDATE run SET summary = ?, summary_boot = ?, finished_at = 400 WHERE id = ?").run(spelled(runId), boot, runId)
    }
    try {
      const text = sessionExportText(host, "ses_t")!
      const doc = buildSessionExport(host, "ses_t")!
      expect(doc.diagnostics.runs.filter((r) => r.runId.startsWith("run_spelled")).map((r) => r.interrupt?.lifecycle?.origin)).toHaveLength(2)
      // A run's object in the text: from its runId to the next object that starts with one.
      const runText = (runId: string) => {
        const at = text.indexOf(`{"runId":"${runId}"`)
        return text.slice(at, text.indexOf('{"runId":"', at + 1))
      }
      expect(runText("run_spelled_mine")).toContain('"route":"/instance/\\u0064ispose"')
      expect(runText("run_spelled_older")).toContain('"route":"/instance/dispose"')
      // Its directory key swapped for the digest all the same.
      expect(runText("run_spelled_mine")).toContain(`"directoryKey":"${doc.diagnostics.lifecycle[0]!.directoryKeys[0]}"`)
      expect(JSON.parse(sameTime(text))).toEqual(JSON.parse(sameTime(JSON.stringify(doc))))
    } finally {
      host.db.prepare("DELETE FROM run WHERE id IN ('run_spelled_mine', 'run_spelled_older')").run()
    }
  })

  test("an unknown session has no text", () => {
    expect(sessionExportText(host, "ses_none")).toBeUndefined()
  })
})

describe("GET /session/:id/export over HTTP", () => {
  let server: TestServer
  afterEach(async () => {
    await server.close()
  })

  test("answers JSON.stringify of the document, as application/json", async () => {
    server = await startTestServer()
    const dir = server.project()
    const { sessionId, runId } = await startRun(server, dir)
    await server.call("POST", "/instance/reload", { directory: dir, headers: appHeaders("instance.reload", "act_reload_text") })
    await finishedRun(server, sessionId, runId)
    await server.call("POST", "/diagnostics/renderer", { body: { actions: [{ actionId: "act_reload_text", name: "instance.reload", page: "/session/:id", time: Date.now(), requestIds: [], outcome: "ok" }] } })
    for (const content of ["full", "diagnostics"] as const) {
      const res = await fetch(`${server.url}/session/${sessionId}/export${content === "full" ? "" : "?content=diagnostics"}`)
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type")).toMatch(/^application\/json/)
      const text = await res.text()
      const doc = buildSessionExport(server.running.host, sessionId, content)!
      expect(doc.diagnostics.renderer).toHaveLength(1)
      expect(doc.diagnostics.lifecycle.length).toBeGreaterThan(0)
      expect(sameTime(text)).toBe(sameTime(JSON.stringify(doc)))
    }
  })
})
