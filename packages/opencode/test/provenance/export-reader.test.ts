import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { explainText } from "../../src/provenance/explain.ts"
import { readExport, type ReadResult, type ReadSuccess } from "../../src/provenance/export-reader.ts"
import { IncidentChain } from "../../src/provenance/schemas.ts"

const fixture = (name: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"))

function ok(result: ReadResult): ReadSuccess {
  if (!result.ok) throw new Error(`expected a readable export, got: ${result.error}`)
  for (const chain of result.incidents) expect(IncidentChain.parse(chain)).toEqual(chain)
  return result
}

const byRun = (result: ReadSuccess, runId: string) => {
  const chain = result.incidents.find((incident) => incident.runId === runId)
  if (!chain) throw new Error(`no incident for ${runId}`)
  return chain
}

const statuses = (chain: { links: { hop: string; status: string }[] }) =>
  Object.fromEntries(chain.links.map((link) => [link.hop, link.status]))

describe("readExport: version 2", () => {
  const result = ok(readExport(fixture("export-v2.json")))

  it("reads the document and its counts without warnings", () => {
    expect(result).toMatchObject({
      format: "v2",
      version: 2,
      writer: { name: "opencode-provenance", version: "0.1.0" },
      session: { id: "ses_fixture2", directory: { digest: "3f2a9c1d7e5b4a60", depth: 4 } },
      counts: { messages: 2, runs: 4, lifecycle: 3, requests: 2, renderer: 1, crashes: 1 },
      unknownFields: [],
      notRecorded: [],
      truncated: { requests: { kept: 2, dropped: 0 } },
    })
    expect(result.warnings).toEqual([])
  })

  it("derives one chain per interrupted run and per crash, completed runs excluded", () => {
    expect(result.incidents.map((chain) => [chain.runId, chain.classification, chain.verdict])).toEqual([
      ["run_reload1", "local_instance_reload", "diagnosed"],
      ["run_global1", "local_instance_dispose_all", "diagnosed"],
      ["run_cancel1", "user_cancelled", "diagnosed"],
      ["run_crash1", "process_exit_without_finalizer", "crash_evidence"],
    ])
  })

  it("joins the app's reload through every hop", () => {
    const chain = byRun(result, "run_reload1")
    expect(chain).toMatchObject({
      operation: "reload",
      rendererAction: { name: "instance.reload" },
      retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    })
    expect(Object.values(statuses(chain))).toEqual(["present", "present", "present", "present", "present"])
  })

  it("shows a global config write as dispose_all → dispose_directory, with the watcher's echo kept", () => {
    const chain = byRun(result, "run_global1")
    expect(chain).toMatchObject({
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      origin: { kind: "config_invalidation", scope: "global", request: { route: "/global/config" } },
      alsoRequestedBy: [{ lifecycleId: "lc_watch1", originKind: "config_invalidation" }],
      retry: { safe: false },
    })
  })

  it("keeps crash evidence unattributed, with its possible cause", () => {
    expect(byRun(result, "run_crash1")).toMatchObject({
      possibleCause: { lifecycleId: "lc_pending1" },
      retry: { safe: true },
    })
  })

  it("re-derives instead of trusting the file: a forged verdict is reported and replaced", () => {
    const doc = fixture("export-v2.json")
    doc.diagnostics.runs[0].interrupt.lifecycle.origin.request.actionId = undefined
    doc.diagnostics.lifecycle[0].origin.request.actionId = undefined
    const forged = ok(readExport(doc))
    expect(byRun(forged, "run_reload1")).toMatchObject({ verdict: "partially_diagnosed", missing: ["renderer_action"] })
    expect(forged.warnings.join(" ")).toContain(
      "run run_reload1: the file says local_instance_reload/diagnosed, its records say local_instance_reload/partially_diagnosed",
    )
  })

  it("re-checks incidents whose records are absent from their own links", () => {
    const doc = fixture("export-v2.json")
    delete doc.diagnostics
    const claim = doc.incidents[0]
    doc.incidents.push({ ...claim, runId: "run_forged", links: [{ hop: "run_summary", status: "present" }] })
    const rechecked = ok(readExport(doc))
    expect(byRun(rechecked, "run_reload1").verdict).toBe("diagnosed")
    expect(byRun(rechecked, "run_forged").verdict).toBe("partially_diagnosed")
    expect(rechecked.warnings.join(" ")).toContain("re-checked from their own links")
  })

  it("an imported chain that relabels a required hop not_applicable is not diagnosed", () => {
    const doc = fixture("export-v2.json")
    delete doc.diagnostics
    const claim = doc.incidents[0]
    const relabelled = claim.links.map((link: { hop: string }) =>
      link.hop === "lifecycle" ? { hop: "lifecycle", status: "not_applicable" } : link,
    )
    doc.incidents = [{ ...claim, links: relabelled }]
    const read = ok(readExport(doc))
    expect(byRun(read, claim.runId)).toMatchObject({ verdict: "partially_diagnosed" })
    expect(statuses(byRun(read, claim.runId)).lifecycle).toBe("missing")
    expect(read.warnings.join(" ")).toContain(
      `run ${claim.runId}: the file says diagnosed, its own links support partially_diagnosed`,
    )
  })

  it("a run listing more tools and later requests than a summary holds is read, each list kept at 64, its retry judged from every tool", () => {
    const doc = fixture("export-v2.json")
    const tool = (i: number, kind: string) => ({
      callId: `call_${i}`,
      name: kind === "read" ? "read" : "write",
      kind,
      startedAt: 1_767_228_000_000 + i,
      status: "completed",
    })
    // The write comes last, past the 64th: a reader that keeps only the first 64 would call a retry safe.
    doc.diagnostics.runs[0].tools = [...Array.from({ length: 70 }, (_, i) => tool(i, "read")), tool(70, "write")]
    doc.diagnostics.runs[0].alsoRequestedBy = Array.from({ length: 70 }, (_, i) => ({
      seq: 100 + i,
      at: 1_767_228_000_000 + i,
      kind: "user_cancel",
      late: true,
    }))
    const read = ok(readExport(doc))
    expect(read.counts.runs).toBe(4)
    const chain = byRun(read, "run_reload1")
    expect(chain).toMatchObject({
      verdict: "diagnosed",
      retry: { safe: false, basis: ["side_effect_tool_started", "kind:write"] },
    })
    expect(chain.alsoRequestedBy).toHaveLength(64)
  })

  it("re-derives retry from the tool facts, not the file's claim", () => {
    const doc = fixture("export-v2.json")
    doc.diagnostics.runs[1].retry = { safe: true, basis: ["no_side_effects"] }
    const read = ok(readExport(doc))
    expect(byRun(read, "run_global1").retry).toEqual({ safe: false, basis: ["side_effect_tool_started", "kind:write"] })
    expect(read.warnings.join(" ")).toContain("retry verdict their own tool facts do not support")
  })

  it("a run with no origin reads missing_provenance, not not_recorded_by_writer", () => {
    const read = ok(readExport(fixture("export-v2-no-origin.json")))
    const chain = byRun(read, "run_field1")
    expect(chain).toMatchObject({
      verdict: "missing_provenance",
      operation: "reload",
      sessionId: "ses_field1",
      retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    })
    expect(chain.missing).toContain("lifecycle_action")
    expect(chain.notRecorded).toBeUndefined()
    expect(read.notRecorded).toEqual([])
  })

  it("says when a run's interrupt record could not be read, instead of silently losing the cause", () => {
    const doc = fixture("export-v2.json")
    doc.diagnostics.runs[0].interrupt.phase = "daydreaming"
    const read = ok(readExport(doc))
    // Without its interrupt the run is unattributed; the action that listed it is only a possible cause.
    expect(byRun(read, "run_reload1")).toMatchObject({
      verdict: "missing_provenance",
      possibleCause: { lifecycleId: "lc_reload1" },
    })
    expect(read.warnings).toContain(
      "1 run(s) carry an interrupt record this reader could not read; those runs are shown without it.",
    )
  })

  it("shows a placeholder session id, with a warning, when the file recorded none", () => {
    const doc = fixture("export-v1-field.json")
    delete doc.session
    const read = ok(readExport(doc))
    expect(byRun(read, "run_field1").sessionId).toBe("ses_not_recorded")
    expect(read.warnings.join(" ")).toContain("no valid session id")
  })

  it("states the writer's truncation", () => {
    const doc = fixture("export-v2.json")
    doc.diagnostics.truncated = { requests: { kept: 2, dropped: 5000 } }
    expect(ok(readExport(doc)).warnings).toContain("The writer kept 2 requests records and dropped 5000.")
  })

  it("accepts the document as a JSON string too", () => {
    expect(ok(readExport(JSON.stringify(fixture("export-v2.json")))).incidents).toHaveLength(4)
  })
})

describe("readExport: version 1", () => {
  it("reads the field export: operation reload, origin not recorded by the writer, retry from its facts", () => {
    const result = ok(readExport(fixture("export-v1-field.json")))
    expect(result).toMatchObject({
      format: "v1-diagnostics",
      version: 1,
      session: { id: "ses_field1" },
      counts: { runs: 1, messages: 2 },
    })
    expect(result.warnings).toEqual([])
    const chain = byRun(result, "run_field1")
    expect(chain).toMatchObject({
      sessionId: "ses_field1",
      classification: "local_instance_reload",
      operation: "reload",
      verdict: "partially_diagnosed",
      origin: { kind: "not_recorded_by_writer" },
      missing: [],
      retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    })
    expect(statuses(chain)).toEqual({
      renderer: "not_recorded_by_writer",
      request: "not_recorded_by_writer",
      lifecycle: "not_recorded_by_writer",
      interrupt: "not_recorded_by_writer",
      run_summary: "present",
    })
    expect(result.notRecorded).toEqual(
      expect.arrayContaining(["origin", "lifecycle_action", "renderer_action", "tool_kinds"]),
    )
  })

  it("a started tool of unrecorded kind is never safe to retry", () => {
    const doc = fixture("export-v1-field.json")
    doc.diagnostics.runs[0].tool.executionStarted = true
    expect(byRun(ok(readExport(doc)), "run_field1").retry).toEqual({
      safe: "unknown",
      basis: ["tool_kind_not_recorded"],
    })
  })

  it("a run without tool facts has an unknown retry verdict", () => {
    const doc = fixture("export-v1-field.json")
    delete doc.diagnostics.runs[0].tool
    expect(byRun(ok(readExport(doc)), "run_field1").retry).toEqual({
      safe: "unknown",
      basis: ["tool_facts_not_recorded"],
    })
  })

  it("reads messages only, with every fact of the spine not recorded", () => {
    const result = ok(readExport(fixture("export-v1-messages.json")))
    expect(result).toMatchObject({ format: "v1-messages", version: 1, incidents: [], counts: { messages: 2 } })
    expect(result.stoppedMessages).toEqual([{ messageId: "msg_v1assistant", error: "MessageAbortedError" }])
    expect(result.notRecorded).toEqual(
      expect.arrayContaining(["run_summary", "classification", "origin", "tool_facts", "retry"]),
    )
  })

  it("skips an unreadable run with a warning, keeping the rest", () => {
    const doc = fixture("export-v1-field.json")
    doc.diagnostics.runs.push({ runId: "not-a-run-id", classification: "local_instance_reload" }, 42)
    const result = ok(readExport(doc))
    expect(result.incidents).toHaveLength(1)
    expect(result.warnings).toContain(
      "2 of 3 runs could not be read (no valid run id or classification) and were skipped.",
    )
  })
})

describe("readExport: upstream opencode", () => {
  it("reads the session export with no diagnostics, labelling every fact not recorded", () => {
    const result = ok(readExport(fixture("export-upstream-opencode.json")))
    expect(result).toMatchObject({
      format: "upstream-opencode",
      session: { id: "ses_4f1c2b3a9ffeQ7xYbZ0aBcDeFg" },
      incidents: [],
      counts: { messages: 2 },
    })
    expect(result.version).toBeUndefined()
    expect(result.stoppedMessages).toEqual([
      { messageId: "msg_b1a2c3d4e003AbCdEfGhIjKlMn", error: "MessageAbortedError" },
    ])
    expect(result.notRecorded).toEqual(expect.arrayContaining(["lifecycle_action", "origin", "retry"]))
    // The upstream file carries a full local path; nothing of it reaches the result.
    expect(JSON.stringify(result)).not.toContain("/home/dev")
  })
})

describe("readExport: newer versions", () => {
  it("reads best effort and names the fields it did not understand", () => {
    const result = ok(readExport(fixture("export-v3-newer.json")))
    expect(result).toMatchObject({ format: "v2", version: 3 })
    expect(result.unknownFields).toEqual(
      expect.arrayContaining(["attachments", "diagnostics.spans", "diagnostics.runs[].costMicros"]),
    )
    expect(result.warnings[0]).toMatch(
      /^The file is version 3; this reader understands version 2, so it was read best effort\. Fields not understood: .*attachments/,
    )
    expect(byRun(result, "run_future1")).toMatchObject({
      classification: "watchdog_timeout",
      verdict: "diagnosed",
      origin: { kind: "server_handler", handler: "watchdog" },
    })
  })

  it("refuses a newer version with nothing it understands", () => {
    expect(readExport({ schema: "opencode.session-export", version: 7, blobs: [] })).toEqual({
      ok: false,
      error: "The file is version 7, newer than this reader supports (2), and has none of the fields it understands.",
    })
  })
})

describe("readExport: malformed and hostile input", () => {
  it.each([
    [null, "The file is not a JSON object, so it is not a session export."],
    [42, "The file is not a JSON object, so it is not a session export."],
    ["{not json", "The file is not valid JSON."],
    [[1, 2], "The file is a JSON list, not a session export (an export is one JSON object)."],
    [{}, "The file is an empty JSON object: it holds no session, messages or diagnostics."],
    [
      { schema: "vscode.settings", version: 2 },
      'The file is a "vscode.settings" document, not an opencode session export.',
    ],
    [
      { name: "my-app", version: "1.0.0", dependencies: {} },
      'The file\'s version ("1.0.0") is not a session export version, so it is probably another kind of document.',
    ],
    [
      { version: -1, messages: [] },
      "The file's version (number) is not a session export version, so it is probably another kind of document.",
    ],
    [{ version: 1, session: { id: "ses_x" } }, "The version 1 file has neither messages nor run diagnostics."],
    [
      { schema: "opencode.session-export", messages: [] },
      "The file names the session-export schema but has no version.",
    ],
    [{ hello: "world" }, "The file is not an opencode session export: it has no schema, version, session or messages."],
  ])("%j → a clear error", (input, error) => {
    expect(readExport(input)).toEqual({ ok: false, error })
  })

  it("labels wrong types instead of failing", () => {
    const result = ok(
      readExport({
        schema: "opencode.session-export",
        version: 2,
        session: "nope",
        messages: {},
        diagnostics: { runs: "x", lifecycle: [1, null, "y"] },
        incidents: 5,
      }),
    )
    expect(result.incidents).toEqual([])
    expect(result.warnings).toEqual(
      expect.arrayContaining([
        "The messages field is not a list; it was ignored.",
        "The runs field is not a list; it was ignored.",
        "3 of 3 lifecycle records could not be read and were skipped.",
        "The incidents field is not a list; it was ignored.",
      ]),
    )
  })

  it("survives deep nesting, in an object and in a JSON string", () => {
    let deep: Record<string, unknown> = {}
    for (let i = 0; i < 100_000; i++) deep = { a: deep }
    const doc = fixture("export-v2.json")
    doc.diagnostics.runs[0].interrupt.lifecycle.origin.extra = deep
    doc.incidents[0].origin.extra = deep
    const result = ok(readExport(doc))
    expect(byRun(result, "run_reload1").verdict).toBe("diagnosed")
    expect(JSON.stringify(result.incidents)).not.toContain('"extra"')
    const text = `${'{"a":'.repeat(200_000)}1${"}".repeat(200_000)}`
    expect(() => readExport(text)).not.toThrow()
  })

  it("survives huge strings without carrying them into the result", () => {
    const huge = "x".repeat(5_000_000)
    const doc = fixture("export-v1-field.json")
    doc.session.id = huge
    doc.diagnostics.runs.push({ ...doc.diagnostics.runs[0], runId: `run_${huge}` })
    doc[huge.slice(0, 10_000)] = 1
    const result = ok(readExport(doc))
    expect(result.incidents).toHaveLength(1)
    expect(JSON.stringify(result).length).toBeLessThan(20_000)
  })

  it("turns a throwing getter into an error sentence, never an exception", () => {
    const hostile = new Proxy(
      { version: 2 },
      {
        get(target, key) {
          if (key === "diagnostics") throw new Error("trap")
          return Reflect.get(target, key)
        },
        ownKeys: () => ["version", "diagnostics"],
        getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }),
      },
    )
    expect(readExport(hostile)).toEqual({
      ok: false,
      error: "The file could not be read: it contains values this reader cannot inspect.",
    })
  })

  it("drops a claimed remote chain and unknown origin fields from imported incidents", () => {
    const doc = fixture("export-v2.json")
    delete doc.diagnostics
    doc.incidents[0].remote = { secret: "x".repeat(1000) }
    doc.incidents[0].origin.env = { OPENAI_API_KEY: "sk-should-not-survive" }
    const chain = byRun(ok(readExport(doc)), "run_reload1")
    expect(chain.remote).toBeUndefined()
    expect(JSON.stringify(chain)).not.toContain("sk-should-not-survive")
  })
})

describe("readExport: scale", () => {
  // Its speed is measured by `npm run bench`; here only that a large file is read whole.
  it("reads 20k runs with their lifecycle records", { timeout: 60_000 }, () => {
    const doc = fixture("export-v2.json")
    const template = doc.diagnostics.runs[0]
    const action = doc.diagnostics.lifecycle[0]
    const runs = []
    for (let i = 0; i < 20_000; i++)
      runs.push({ ...template, runId: `run_${i}`, interrupt: { ...template.interrupt, runId: `run_${i}` } })
    doc.diagnostics = { runs, lifecycle: [action] }
    doc.incidents = []
    const result = ok(readExport(doc))
    expect(result.incidents).toHaveLength(20_000)
  })
})

describe("explainText", () => {
  it("says what stopped, why, who initiated it, what is missing and whether retry is safe", () => {
    const text = explainText(readExport(fixture("export-v2.json")))
    expect(text).toContain("Opencode session export, version 2, written by opencode-provenance 0.1.0.")
    expect(text).toContain(
      "Run run_reload1 in session ses_fixture2 was closed by a reload of its instance [local_instance_reload].",
    )
    expect(text).toContain(
      "Initiated by: POST /instance/reload from the app, action instance.reload (act_reload1), request req_reload1 (answered 200 in 812 ms).",
    )
    expect(text).toContain("Verdict: diagnosed: every hop its origin requires is present.")
    expect(text).toContain(
      "Retry: safe, no tool with side effects had started; the user had already seen partial output, which a retry repeats.",
    )
    expect(text).toContain("Operation: dispose_all lc_all1 → dispose_directory lc_dir1")
    expect(text).toContain(
      "a global config file modified, file 9b8a7c6d5e4f3a21, written by PATCH /global/config from a plain client, request req_globalcfg",
    )
    expect(text).toContain("Retry: not safe, a tool with side effects had started (write).")
    expect(text).toContain("Possible cause, not confirmed: dispose lc_pending1.")
  })

  it("names the missing fields of a chain", () => {
    const text = explainText(readExport(fixture("export-v2-no-origin.json")))
    expect(text).toContain("Verdict: missing provenance")
    expect(text).toMatch(/Missing: lifecycle_action/)
  })

  it("says which facts an old writer could not record", () => {
    const text = explainText(readExport(fixture("export-v1-field.json")))
    expect(text).toContain("Initiated by: not recorded (the file's writer could not record who initiated a close).")
    expect(text).toContain("Operation: reload")
    expect(text).toContain("This file's writer could not record:")
  })

  it("explains a messages-only file and its aborted message", () => {
    const text = explainText(readExport(fixture("export-upstream-opencode.json")))
    expect(text).toContain("Upstream opencode session export (messages only).")
    expect(text).toContain("The file records no run diagnostics, so it cannot say why any run stopped.")
    expect(text).toContain("Message msg_b1a2c3d4e003AbCdEfGhIjKlMn ended with MessageAbortedError.")
  })

  it("explains a failure in one sentence", () => {
    expect(explainText(readExport([]))).toBe(
      "This file could not be read. The file is a JSON list, not a session export (an export is one JSON object).",
    )
  })

  it("never prints terminal escapes from the file", () => {
    const doc = fixture("export-v2.json")
    doc.diagnostics.lifecycle[0].origin.request.route = "/instance/reload\u001b[2J\u001b]0;pwned\u0007"
    expect(explainText(readExport(doc))).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
  })
})
