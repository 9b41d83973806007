/**
 * `opencode explain FILE [--json]` as a user runs it (a child process): every export version in
 * test/fixtures reads as plain words naming the operation, the initiator, what is missing and
 * whether a retry is safe; `--json` is parseable; a file that is not an export gets one clear
 * sentence on stderr, a non-zero exit and never a stack trace.
 */
import { execFile } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { BIN, tempDir } from "../harness.ts"
import { explainText, readExport, SessionExportDocument } from "../../src/provenance/index.ts"
import { visibleControls } from "../../src/provenance/plain-text.ts"

const exec = promisify(execFile)
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures")
const fixture = (name: string) => path.join(FIXTURES, name)

interface Result {
  code: number
  stdout: string
  stderr: string
}

async function explain(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, "explain", ...args], { maxBuffer: 16 * 1024 * 1024 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }
  }
}

function expectReadable(result: Result): void {
  expect(result.stderr, "stderr").toBe("")
  expect(result.code).toBe(0)
  expect(result.stdout).not.toMatch(/^\s+at /m)
  // Plain words: no raw JSON, no escape sequences.
  expect(result.stdout).not.toMatch(/[{}]|\u001b/)
}

describe("explain on every fixture", () => {
  test("version 2: each incident's operation, initiator, hops, what is missing and the retry verdict", async () => {
    const result = await explain(fixture("export-v2.json"))
    expectReadable(result)
    const out = result.stdout
    expect(out).toMatch(/^Opencode session export, version 2, written by opencode-provenance/)
    expect(out).toContain("4 stopped run(s)")
    expect(out).toContain(
      "Run run_reload1 in session ses_fixture2 was closed by a reload of its instance [local_instance_reload].",
    )
    expect(out).toContain("Operation: reload lc_reload1.")
    expect(out).toContain("Initiated by: POST /instance/reload from the app, action instance.reload (act_reload1)")
    expect(out).toContain("Operation: dispose_all lc_all1 → dispose_directory lc_dir1.")
    expect(out).toContain("written by PATCH /global/config from a plain client")
    expect(out).toContain("Retry: not safe, a tool with side effects had started (write).")
    expect(out).toContain("Also requested by: dispose_directory lc_watch1")
    expect(out).toContain("Missing: run_summary, interrupt_meta.")
    expect(out).toContain("Possible cause, not confirmed: dispose lc_pending1.")
    expect(out).toContain("this is not evidence of a lifecycle close")
  })

  test("version 2 without an origin: missing provenance, naming the missing hops", async () => {
    const result = await explain(fixture("export-v2-no-origin.json"))
    expectReadable(result)
    expect(result.stdout).toContain("Verdict: missing provenance")
    expect(result.stdout).toContain("Operation: reload.")
    expect(result.stdout).toContain("Initiated by: nothing recorded who initiated it.")
    expect(result.stdout).toContain("Missing: lifecycle_action, interrupt_meta.")
    expect(result.stdout).toMatch(/Retry: safe, .*partial output/)
  })

  test("version 1 field export: operation reload, origin not recorded by the writer (not missing), retry from the facts", async () => {
    const result = await explain(fixture("export-v1-field.json"))
    expectReadable(result)
    const out = result.stdout
    expect(out).toMatch(/^Opencode session export, version 1 with run diagnostics\./)
    expect(out).toContain("Operation: reload.")
    expect(out).toContain("Initiated by: not recorded (the file's writer could not record who initiated a close).")
    expect(out).not.toContain("missing provenance")
    expect(out).toContain("Not recorded by the file's writer: origin")
    expect(out).toMatch(/Retry: safe, no tool with side effects had started/)
    expect(out).toContain("This file's writer could not record: who initiated a close")
  })

  test("version 1 messages only: says it cannot tell why a run stopped, names the stopped message and what was not recorded", async () => {
    const result = await explain(fixture("export-v1-messages.json"))
    expectReadable(result)
    expect(result.stdout).toContain("version 1 (messages only)")
    expect(result.stdout).toContain("cannot say why any run stopped")
    expect(result.stdout).toContain("Message msg_v1assistant ended with MessageAbortedError.")
    expect(result.stdout).toContain("could not record: run summaries, why runs stopped")
    expect(result.stdout).toContain("retry verdicts")
  })

  test("upstream opencode export: read as messages only, with the abort named", async () => {
    const result = await explain(fixture("export-upstream-opencode.json"))
    expectReadable(result)
    expect(result.stdout).toMatch(/^Upstream opencode session export \(messages only\)\./)
    expect(result.stdout).toContain("ended with MessageAbortedError")
    expect(result.stdout).toContain("who initiated a close")
  })

  test("a newer version (3): read best effort, with a warning naming the fields not understood", async () => {
    const result = await explain(fixture("export-v3-newer.json"))
    expectReadable(result)
    expect(result.stdout).toContain("version 3 (newer than this reader's version 2; read best effort)")
    expect(result.stdout).toMatch(
      /Warning: .*Fields not understood: .*attachments.*diagnostics\.spans.*diagnostics\.runs\[\]\.costMicros/,
    )
    expect(result.stdout).toContain("[watchdog_timeout]")
    expect(result.stdout).toContain("Initiated by: the server's own watchdog handler.")
  })

  test("the version 2 fixture's records are those of the published schema (its messages are abridged)", () => {
    const doc = JSON.parse(readFileSync(fixture("export-v2.json"), "utf8"))
    const parsed = SessionExportDocument.safeParse({ ...doc, messages: [] })
    expect(parsed.success, JSON.stringify(parsed.error?.issues?.slice(0, 3))).toBe(true)
  })
})

describe("explain --json", () => {
  const cases: [string, string, number][] = [
    ["export-v2.json", "v2", 4],
    ["export-v2-no-origin.json", "v2", 1],
    ["export-v1-field.json", "v1-diagnostics", 1],
    ["export-v1-messages.json", "v1-messages", 0],
    ["export-upstream-opencode.json", "upstream-opencode", 0],
    ["export-v3-newer.json", "v2", 1],
  ]
  test.each(cases)("%s: parseable JSON with format %s and %i incident(s)", async (name, format, incidents) => {
    const result = await explain(fixture(name), "--json")
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    const json = JSON.parse(result.stdout)
    expect(json.format).toBe(format)
    expect(json.incidents).toHaveLength(incidents)
    expect(Array.isArray(json.warnings)).toBe(true)
    expect(Array.isArray(json.notRecorded)).toBe(true)
  })

  test("the field export's chain in JSON: origin not_recorded_by_writer, operation reload, retry from the facts", async () => {
    const json = JSON.parse((await explain("--json", fixture("export-v1-field.json"))).stdout)
    expect(json.incidents[0]).toMatchObject({
      runId: "run_field1",
      operation: "reload",
      origin: { kind: "not_recorded_by_writer" },
      retry: { safe: true },
    })
    expect(json.incidents[0].verdict).not.toBe("missing_provenance")
    const noOrigin = JSON.parse((await explain(fixture("export-v2-no-origin.json"), "--json")).stdout)
    expect(noOrigin.incidents[0]).toMatchObject({ runId: "run_field1", verdict: "missing_provenance" })
  })
})

describe("explain on files that are not session exports", () => {
  let dir: string
  const file = (name: string, content: string | Buffer) => {
    const target = path.join(dir, name)
    writeFileSync(target, content)
    return target
  }
  beforeAll(() => {
    dir = tempDir("oc-explain-")
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const malformed: [string, () => string, RegExp][] = [
    ["not JSON", () => file("notjson.json", "this is { not json"), /not valid JSON/],
    ["an empty (whitespace) file", () => file("blank.json", "  \n\t\n"), /is empty/],
    ["a 0-byte file", () => file("zero.json", ""), /is empty/],
    ["a JSON array", () => file("array.json", "[1, 2, 3]"), /JSON list, not a session export/],
    [
      "another kind of document (package.json)",
      () => path.resolve(FIXTURES, "../../package.json"),
      /version \("0\.1\.0"\) is not a session export version, so it is probably another kind of document/,
    ],
    [
      "version 99 with no known field",
      () => file("v99.json", JSON.stringify({ schema: "opencode.session-export", version: 99, somethingElse: true })),
      /version 99, newer than this reader supports/,
    ],
    ["a directory", () => dir, /it is a directory/],
    ["a missing file", () => path.join(dir, "does-not-exist.json"), /no such file/],
    ["an empty object", () => file("empty-object.json", "{}"), /empty JSON object/],
    ["JSON null", () => file("null.json", "null"), /not a JSON object/],
    [
      "a version that is a string",
      () => file("vstring.json", JSON.stringify({ version: "2", messages: [] })),
      /is not a session export version/,
    ],
    [
      "another schema",
      () => file("otherschema.json", JSON.stringify({ schema: "acme.report", version: 2 })),
      /"acme\.report" document, not an opencode session export/,
    ],
    ["binary bytes", () => file("binary.json", Buffer.from([0x00, 0xff, 0xfe, 0x10, 0x80, 0x7b])), /not valid JSON/],
    [
      "deeply nested JSON",
      () => file("deep.json", "[".repeat(200_000) + "]".repeat(200_000)),
      /(too large or too deeply nested|JSON list)/,
    ],
  ]

  test.each(malformed)("%s: one sentence on stderr, exit non-zero, no stack trace", async (_name, make, message) => {
    const target = make()
    for (const args of [[target], [target, "--json"]]) {
      const result = await explain(...args)
      expect(result.code).not.toBe(0)
      expect(result.stdout).toBe("")
      const lines = result.stderr.trimEnd().split("\n")
      expect(lines, result.stderr).toHaveLength(1)
      expect(lines[0]).toMatch(/^opencode explain: /)
      expect(lines[0]).toMatch(message)
      expect(lines[0]).toMatch(/[.!]$/)
      expect(result.stderr).not.toMatch(/^\s{4}at /m)
      expect(result.stderr).not.toMatch(/Error:|node:internal/)
    }
  })

  test("no file named, or an unknown flag: a usage sentence, exit 2", async () => {
    for (const args of [[], ["--bogus", fixture("export-v2.json")]]) {
      const result = await explain(...args)
      expect(result.code).toBe(2)
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(result.stderr).toMatch(/^opencode explain: /)
      expect(result.stderr).not.toMatch(/^\s{4}at /m)
    }
  })

  test("hostile text in a valid export is printed inert: no terminal escapes reach the output", async () => {
    const doc = JSON.parse(readFileSync(fixture("export-v2.json"), "utf8"))
    doc.session.id = "ses_\u001b[2J\u001b]0;pwned\u0007x"
    doc.writer = { name: "evil\u001b[31mred", version: "1\r\nFAKE LINE" }
    const result = await explain(file("hostile.json", JSON.stringify(doc)))
    expect(result.code).toBe(0)
    expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
    expect(result.stdout).not.toMatch(/^FAKE LINE/m)
  })

  // Bidirectional and invisible format characters (Unicode category Cf), C1 controls and line
  // separators reorder or hide what a terminal shows: each is printed as a visible <U+XXXX>.
  const INVISIBLE = [
    "\u061c",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u0085",
    "\u009b",
    "\u2028",
    "\u2029",
    "\u{e0041}",
  ]
  const RAW = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

  const marker = (char: string) => `<U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}>`
  const planted = (chars: string[]) => {
    const doc = JSON.parse(readFileSync(fixture("export-v2.json"), "utf8"))
    doc.session.id = `ses_${chars.join("a")}`
    doc.writer = { name: "evil\u202egnp.exe", version: `1${chars.join("c")}` }
    return doc
  }

  test("bidirectional controls, invisible format characters and C1 controls in a v2 export never reach the terminal raw", async () => {
    const path = file("bidi.json", JSON.stringify(planted(INVISIBLE.slice(0, 6))))
    const result = await explain(path)
    expect(result.code).toBe(0)
    expect(result.stdout.slice(0, -1).split("\n").join("")).not.toMatch(RAW)
    // Another writer's name is not a token: it is left out, never printed reordered.
    expect(result.stdout).not.toContain("gnp.exe")

    const json = await explain(path, "--json")
    expect(json.code).toBe(0)
    expect(json.stdout.slice(0, -1).split("\n").join("")).not.toMatch(RAW)
    expect(JSON.parse(json.stdout).incidents.length).toBeGreaterThan(0)

    // The rest of the class, through the same reader and words in process.
    for (let i = 0; i < INVISIBLE.length; i += 6) {
      const text = explainText(readExport(JSON.stringify(planted(INVISIBLE.slice(i, i + 6)))))
      expect(text.split("\n").join("")).not.toMatch(RAW)
    }
  })

  test("every line explain prints shows each invisible character as <U+XXXX>, and an emoji joined by zero-width joiners stays whole", () => {
    for (const char of INVISIBLE) expect(visibleControls(`a${char}b`)).toBe(`a${marker(char)}b`)
    expect(visibleControls("evil\u202egnp.exe")).toBe("evil<U+202E>gnp.exe")
    expect(visibleControls("team 👨‍👩‍👧‍👦")).toBe("team 👨‍👩‍👧‍👦")
  })
})
