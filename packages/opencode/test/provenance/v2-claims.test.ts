/**
 * A version 2 file's own incidents are claims, checked against the file's records. A claim must
 * never make a stop look more diagnosed than the file supports:
 * - a claim about a run whose summary in the file says it completed adds no incident;
 * - a version 2 writer records every fact, so "not recorded by the writer" in its claim (origin,
 *   hops, `notRecorded`) is missing provenance, named, not an old writer's excusable gap.
 */
import { readFileSync } from "node:fs"
import { expect, test } from "vitest"
import { readExport } from "../../src/provenance/export-reader.ts"
import { explainText } from "../../src/provenance/explain.ts"

const fixture = (): Record<string, any> =>
  JSON.parse(readFileSync(new URL("../fixtures/export-v2.json", import.meta.url), "utf8"))

function read(doc: unknown) {
  const result = readExport(doc)
  if (!result.ok) throw new Error(result.error)
  return result
}

test("a claim about a run whose own records say it completed adds no incident, and the disagreement is named", () => {
  const doc = fixture()
  expect(doc.diagnostics.runs.find((r: any) => r.runId === "run_done1").classification).toBe("completed")
  const claim = structuredClone(doc.incidents[0])
  claim.runId = "run_done1"
  doc.incidents.push(claim)
  const result = read(doc)
  expect(result.incidents.find((c) => c.runId === "run_done1")).toBeUndefined()
  expect(result.warnings.join(" ")).toMatch(
    /run run_done1: the file says local_instance_reload\/\w+, its records say it has no incident/,
  )
  // The claims about runs the file holds no records of are still re-checked and shown.
  const other = structuredClone(doc.incidents[0])
  other.runId = "run_elsewhere"
  doc.incidents.push(other)
  expect(read(doc).incidents.map((c) => c.runId)).toContain("run_elsewhere")
})

const noOriginClaim = (extra: Record<string, unknown> = {}) => ({
  schema: "opencode.session-export",
  version: 2,
  session: { id: "ses_a" },
  incidents: [
    {
      runId: "run_a",
      sessionId: "ses_a",
      classification: "local_instance_reload",
      verdict: "partially_diagnosed",
      origin: { kind: "not_recorded_by_writer" },
      links: [
        ...["renderer", "request", "lifecycle", "interrupt"].map((hop) => ({ hop, status: "not_recorded_by_writer" })),
        { hop: "run_summary", status: "present" },
      ],
      missing: [],
      alsoRequestedBy: [],
      retry: { safe: true, basis: ["no_side_effects"] },
      ...extra,
    },
  ],
})

test("a version 2 claim whose origin is 'not recorded by the writer' reads as missing provenance, naming what is missing", () => {
  for (const extra of [{}, { notRecorded: ["origin", "lifecycle_action", "interrupt_meta"] }]) {
    const result = read(noOriginClaim(extra))
    const chain = result.incidents[0]!
    expect(chain.verdict).toBe("missing_provenance")
    expect(chain.missing).toEqual(expect.arrayContaining(["origin", "lifecycle_action", "interrupt_meta"]))
    expect(chain.links.filter((link) => link.status === "not_recorded_by_writer")).toEqual([])
    expect(chain.notRecorded ?? []).toEqual([])
    const text = explainText(result)
    expect(text).not.toMatch(/Missing: nothing/)
    expect(text).toMatch(/missing provenance/)
  }
})

test("a version 2 file without its diagnostics cannot say why a run stopped; one with none of an export's fields is refused", () => {
  const messages = [
    { info: { id: "msg_1", sessionID: "ses_1", role: "user", time: { created: 1 } }, parts: [] },
    {
      info: {
        id: "msg_2",
        sessionID: "ses_1",
        role: "assistant",
        time: { created: 2 },
        error: { name: "MessageAbortedError", data: { message: "aborted" } },
      },
      parts: [],
    },
  ]
  for (const diagnostics of [undefined, "not an object"]) {
    const result = read({
      schema: "opencode.session-export",
      version: 2,
      session: { id: "ses_1" },
      messages,
      diagnostics,
    })
    expect(result.diagnosticsMissing).toBe(true)
    expect(result.warnings.join(" ")).toMatch(/cannot say why any run stopped/)
    const text = explainText(result)
    expect(text).not.toContain("No interrupted runs or crashes are recorded")
    expect(text).toContain("The file records no run diagnostics, so it cannot say why any run stopped.")
  }
  // A file that is an export with nothing stopped still reads as such.
  const clean = read({ ...fixture(), incidents: [] })
  expect(clean.diagnosticsMissing).toBeUndefined()
  const bare = readExport({ version: 2 })
  expect(bare.ok).toBe(false)
  if (!bare.ok) expect(bare.error).toMatch(/^The version 2 file has none of an export's fields/)
})
