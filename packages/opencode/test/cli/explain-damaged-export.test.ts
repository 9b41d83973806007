/**
 * `opencode explain FILE` on a version 2 export damaged one way at a time (a hand edit, a writer's
 * bug, a newer writer): it never says nothing stopped when it could not read the run records, never
 * reads a stop as diagnosed from records the file contradicts, refuses a file whose JSON is a
 * string, and never prints an id that is not id-shaped. Each test spawns the real CLI, as
 * test/cli/explain.test.ts does.
 */
import { execFile } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, describe, expect, test } from "vitest"
import { BIN, tempDir } from "../harness.ts"

const exec = promisify(execFile)
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")
const dir = tempDir("oc-explain-damaged-")
afterAll(() => rmSync(dir, { recursive: true, force: true }))

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

/** The fixture, parsed afresh (a deep copy each call). */
const fixture = (): any => JSON.parse(readFileSync(FIXTURE, "utf8"))

let n = 0
/** A file holding `doc` as JSON, or `text` as it is. */
function write(doc: unknown): string {
  return writeText(JSON.stringify(doc, null, 2))
}

function writeText(text: string): string {
  const file = path.join(dir, `damaged-${++n}.json`)
  writeFileSync(file, text)
  return file
}

/** The fixture after `mutate`, with the file's own incidents dropped (the records alone decide). */
async function explainMutated(mutate: (doc: any) => void): Promise<Result> {
  const doc = fixture()
  mutate(doc)
  doc.incidents = []
  const result = await explain(write(doc))
  expect(result.stderr).toBe("")
  expect(result.code).toBe(0)
  return result
}

/** The block of text that explains `runId` (from its "N. Run runId" line to the next blank line). */
function blockOf(stdout: string, runId: string): string {
  const start = stdout.indexOf(`. Run ${runId} `)
  expect(start, `a block for ${runId}`).toBeGreaterThan(-1)
  const end = stdout.indexOf("\n\n", start)
  return stdout.slice(start, end === -1 ? undefined : end)
}

const warnings = (stdout: string) => stdout.split("\n").filter((line) => line.startsWith("Warning: "))

describe("the run records could not be read: it cannot say why runs stopped, never 'nothing stopped'", () => {
  // The file's lifecycle list says lc_reload1 closed run_reload1 and lc_dir1 closed run_global1: runs did stop.
  const variants: [string, (doc: any) => void, RegExp][] = [
    ["diagnostics.runs absent", (doc) => delete doc.diagnostics.runs, /no list of runs/],
    [
      "diagnostics.runs is a string",
      (doc) => (doc.diagnostics.runs = "oops"),
      /The runs field is not a list(.|\n)*Without its list of runs/,
    ],
    [
      "diagnostics.runs is null",
      (doc) => (doc.diagnostics.runs = null),
      /The runs field is not a list(.|\n)*Without its list of runs/,
    ],
    [
      "every run's classification is a number",
      (doc) => doc.diagnostics.runs.forEach((run: any) => (run.classification = 5)),
      /4 of 4 runs could not be read/,
    ],
    [
      "a version 3 writer renamed runs to runSummaries",
      (doc) => {
        doc.version = 3
        doc.diagnostics.runSummaries = doc.diagnostics.runs
        delete doc.diagnostics.runs
      },
      /no list of runs/,
    ],
  ]
  for (const [name, mutate, warning] of variants) {
    test(name, async () => {
      const result = await explainMutated((doc) => {
        mutate(doc)
        delete doc.diagnostics.crashes
      })
      expect(result.stdout).not.toContain("No interrupted runs or crashes are recorded")
      expect(result.stdout).toContain(
        "This reader could not read the file's run records, so it cannot say why any run stopped.",
      )
      expect(warnings(result.stdout).join("\n")).toMatch(warning)
    })
  }

  test("some runs unreadable, the rest completed: it says which it cannot speak for", async () => {
    const result = await explainMutated((doc) => {
      delete doc.diagnostics.crashes
      doc.diagnostics.runs.forEach((run: any, index: number) => {
        if (index < 3) run.runId = 7
      })
    })
    expect(result.stdout).not.toContain("No interrupted runs or crashes are recorded in this file.")
    expect(result.stdout).toContain("it cannot say why the 3 it could not read stopped.")
  })
})

describe("records of one id: never a silent first-wins", () => {
  test("a completed and an interrupted record of run_reload1: the stop is explained, the conflict named", async () => {
    const result = await explainMutated((doc) => {
      const completed = structuredClone(doc.diagnostics.runs[3])
      completed.runId = "run_reload1"
      doc.diagnostics.runs.unshift(completed)
    })
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).toContain("closed by a reload of its instance")
    // Which record is right the file cannot say: never diagnosed.
    expect(block).not.toContain("Verdict: diagnosed")
    expect(warnings(result.stdout).join("\n")).toMatch(
      /under a run id an earlier record has \(run_reload1\).*disagrees with itself about how run_reload1 stopped/,
    )
  })

  test("a repeated lifecycle id is named", async () => {
    const result = await explainMutated((doc) => {
      doc.diagnostics.lifecycle.push({ ...structuredClone(doc.diagnostics.lifecycle[0]), operation: "dispose" })
    })
    expect(warnings(result.stdout).join("\n")).toContain(
      "The file lists 1 lifecycle record(s) under an id an earlier record has (lc_reload1)",
    )
  })
})

describe("a run's interrupt record the file contradicts never makes the run read as diagnosed", () => {
  test("run_cancel1 carrying run_reload1's interrupt record", async () => {
    const result = await explainMutated((doc) => {
      const [reload, , cancel] = doc.diagnostics.runs
      // The cancel run's interrupt record is the reload run's own (interrupt.runId = run_reload1);
      // lc_reload1 lists only run_reload1.
      cancel.interrupt = structuredClone(reload.interrupt)
      cancel.classification = "local_instance_reload"
    })
    const block = blockOf(result.stdout, "run_cancel1")
    expect(block).not.toContain("Verdict: diagnosed")
    expect(block).toContain("interrupt missing")
    expect(warnings(result.stdout).join("\n")).toContain(
      "1 run(s) carry an interrupt record that names another run or session (run_cancel1)",
    )
  })

  test("classified watchdog_timeout, its interrupt record a reload", async () => {
    const result = await explainMutated((doc) => (doc.diagnostics.runs[0].classification = "watchdog_timeout"))
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).toContain("stopped by the watchdog")
    expect(block).not.toContain("Verdict: diagnosed")
    expect(block).toContain("Missing: interrupt_meta.")
    expect(warnings(result.stdout).join("\n")).toContain(
      "run_reload1 is classified watchdog_timeout, but its interrupt record is a lifecycle close (reload)",
    )
  })

  test("classified user_cancelled, its interrupt record a reload", async () => {
    const result = await explainMutated((doc) => (doc.diagnostics.runs[0].classification = "user_cancelled"))
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).toContain("cancelled by the user")
    expect(block).not.toContain("Verdict: diagnosed")
  })

  test("classified as a reload, the lifecycle action it names recorded as a dispose", async () => {
    const result = await explainMutated((doc) => {
      doc.diagnostics.lifecycle[0].operation = "dispose"
      doc.diagnostics.lifecycle[0].rootOperation = "dispose"
    })
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).toContain("closed by a reload of its instance")
    expect(block).not.toContain("Verdict: diagnosed")
    // The recorded action is still offered, as a possible cause only.
    expect(block).toContain("Possible cause, not confirmed: dispose lc_reload1.")
    expect(warnings(result.stdout).join("\n")).toContain(
      "run_reload1 is classified local_instance_reload, but the lifecycle action its interrupt record names is a dispose (lc_reload1)",
    )
  })

  test("the file's own diagnosed claim never stands in, even where the writer capped its runs", async () => {
    const doc = fixture()
    doc.diagnostics.runs[0].classification = "watchdog_timeout"
    // A capped list lets a claim stand in for a chain missing a hop; not for a record the file contradicts.
    doc.diagnostics.truncated.runs = { kept: 4, dropped: 3 }
    const result = await explain(write(doc))
    expect(result.code).toBe(0)
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).toContain("stopped by the watchdog")
    expect(block).not.toContain("Verdict: diagnosed")
    expect(result.stdout.match(/\. Run run_reload1 /g)).toHaveLength(1)
  })

  test("nor where its lifecycle list contradicts the run, with its runs capped", async () => {
    const doc = fixture()
    doc.diagnostics.lifecycle[0].operation = "dispose"
    doc.diagnostics.lifecycle[0].rootOperation = "dispose"
    doc.diagnostics.truncated.runs = { kept: 4, dropped: 3 }
    const result = await explain(write(doc))
    expect(result.code).toBe(0)
    const block = blockOf(result.stdout, "run_reload1")
    expect(block).not.toContain("Verdict: diagnosed")
    expect(result.stdout.match(/\. Run run_reload1 /g)).toHaveLength(1)
  })

  test("the fixture as written still reads run_reload1 as diagnosed, with no warning", async () => {
    const result = await explainMutated(() => {})
    expect(blockOf(result.stdout, "run_reload1")).toContain("Verdict: diagnosed")
    expect(warnings(result.stdout)).toEqual([])
  })
})

describe("a file whose JSON is a string is not an export", () => {
  test('"hello" is valid JSON: it is named a JSON string, not invalid JSON', async () => {
    const result = await explain(writeText('"hello"\n'))
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(
      "opencode explain: The file is a JSON string, not a session export (an export is one JSON object).\n",
    )
  })

  test("a JSON string holding an export's text is refused, never read as that export", async () => {
    const result = await explain(writeText(JSON.stringify(JSON.stringify(fixture()))))
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain("The file is a JSON string, not a session export")
  })
})

describe("a session or message id is printed only in its shape", () => {
  test("credential-shaped ids (sk-live-…, ghp_…) never reach explain's text", async () => {
    const result = await explainMutated((doc) => {
      // The canary test/provenance/otlp-foreign-text.test.ts plants in session.id (and never sees in a span).
      doc.session.id = "sk-live-CNRYsecret0123456789abcdef"
      doc.messages[1].info.id = "ghp_CNRY16C7e42F292c6912E7710c838347Ae178B4a"
      doc.messages[1].info.error = { name: "MessageAbortedError" }
    })
    expect(result.stdout).not.toMatch(/cnry/i)
    // Positive control: the stopped message is still explained, without its id.
    expect(result.stdout).toContain("Message (no id) ended with MessageAbortedError.")
  })

  test("id-shaped ids are printed", async () => {
    const result = await explainMutated((doc) => (doc.messages[1].info.error = { name: "MessageAbortedError" }))
    expect(result.stdout).toContain("Session ses_fixture2.")
    expect(result.stdout).toContain("Message msg_fx2 ended with MessageAbortedError.")
  })
})
