/**
 * `opencode explain` reads a large export as a stream (never the whole file in memory, its
 * incidents one at a time): what it prints is what the whole-document reader gives for the same
 * file, whatever the order of its fields; a file cut short or broken in the middle gets one
 * sentence that says where, never a stack trace.
 */
import { execFile } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, describe, expect, test } from "vitest"
import { explainText, readExport } from "../../src/provenance/index.ts"
import { BIN, tempDir } from "../harness.ts"

const exec = promisify(execFile)
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")
const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as Record<string, any>
const dir = tempDir("oc-explain-large-")
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The fixture grown to a few MB: many messages (some stopped) and many incidents with no records behind them. */
function largeExport(): Record<string, unknown> {
  const messages = Array.from({ length: 20_000 }, (_, i) => ({
    info: {
      id: `msg_big${i}`,
      role: i % 2 ? "assistant" : "user",
      ...(i % 997 === 5 ? { error: { name: "MessageAbortedError", data: { message: "secret prompt text" } } } : {}),
    },
    parts: [{ type: "text", text: `Step ${i} of a long session: ${"words ".repeat(15)}` }],
  }))
  const claim = fixture.incidents[0]
  const incidents = [
    ...fixture.incidents,
    ...Array.from({ length: 3000 }, (_, i) =>
      i % 400 === 7
        ? { runId: `run_bad${i}` } // a claim that does not parse
        : { ...claim, runId: `run_big${i}`, ...(i % 100 === 3 ? { verdict: "diagnosed" } : {}) },
    ),
  ]
  return { ...fixture, messages, incidents }
}

async function explain(file: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, "explain", file, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }
  }
}

function write(name: string, text: string): string {
  const file = path.join(dir, name)
  writeFileSync(file, text)
  return file
}

const large = JSON.stringify(largeExport())

describe("explain on a large export", () => {
  test("prints what the whole-document reader gives, incidents re-checked and warnings included", async () => {
    expect(large.length).toBeGreaterThan(4 * 1024 * 1024)
    const whole = readExport(large)
    expect(whole.ok && whole.incidents.length).toBe(3000 - 8 + 4)
    const result = await explain(write("large.json", large))
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(`${explainText(whole)}\n`)
    expect(result.stdout).toContain("8 incident(s) in the file could not be read and were skipped.")
    expect(result.stdout).toContain("Message msg_big5 ended with MessageAbortedError.")
    expect(result.stdout).not.toContain("secret prompt text")
  })

  test("--json gives the whole-document reader's chains", async () => {
    const whole = readExport(large)
    if (!whole.ok) throw new Error(whole.error)
    const result = await explain(write("large-json.json", large), "--json")
    expect(result.code).toBe(0)
    const printed = JSON.parse(result.stdout)
    expect(printed.warnings).toEqual(whole.warnings)
    expect(printed.notRecorded).toEqual(whole.notRecorded)
    expect(printed.incidents).toEqual(JSON.parse(JSON.stringify(whole.incidents)))
  })

  test("fields in another order, and a repeated incidents list (the last one counts, as in JSON.parse)", async () => {
    const doc = largeExport()
    const { incidents, ...rest } = doc
    const first = JSON.stringify([fixture.incidents[0]])
    const text = `{"incidents":${first},${JSON.stringify(rest).slice(1, -1)},"incidents":${JSON.stringify(incidents)}}`
    const result = await explain(write("reordered.json", text))
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(`${explainText(readExport(text))}\n`)
  })
})

describe("a large file that is not valid JSON", () => {
  const expectOneSentence = (result: { code: number; stdout: string; stderr: string }, pattern: RegExp) => {
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toMatch(pattern)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  }

  test("cut short: says which value the file ends in", async () => {
    const result = await explain(write("cut.json", large.slice(0, Math.floor(large.length * 0.6))))
    expectOneSentence(
      result,
      /^opencode explain: The file is not valid JSON: the value at character \d+ is not closed before the file ends\.$/m,
    )
  })

  test("broken in the middle of a message: says at which character", async () => {
    const at = large.indexOf('"role":"assistant"', large.length / 3)
    const broken = `${large.slice(0, at)}"role":assistant${large.slice(at + '"role":"assistant"'.length)}`
    const result = await explain(write("broken.json", broken))
    expectOneSentence(
      result,
      /^opencode explain: The file is not valid JSON: the value at character \d+ does not parse\.$/m,
    )
    const character = Number(/character (\d+)/.exec(result.stderr)![1])
    // The message that holds the break starts before it, not far from it.
    expect(character).toBeLessThanOrEqual(at)
    expect(at - character).toBeLessThan(1000)
  })

  test("a broken incident (a quote dropped) is reported in the first pass, never as output", async () => {
    const at = large.lastIndexOf('"runId":"run_big')
    const broken = `${large.slice(0, at)}"runId":run_big${large.slice(at + '"runId":"run_big'.length)}`
    expectOneSentence(
      await explain(write("broken-incident.json", broken)),
      /not valid JSON: the value at character \d+/,
    )
  })

  test("more after the document", async () => {
    expectOneSentence(
      await explain(write("more.json", `${large}\n{}`)),
      /not valid JSON: there is more after its document/,
    )
  })
})
