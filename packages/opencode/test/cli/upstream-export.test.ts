/**
 * The upstream-opencode reader path against what the real `opencode-ai` package (1.18.33)
 * exports: `opencode export SESSION_ID` and `--sanitize`, captured by
 * fixtures/make-upstream-export.mjs (a session with one answer and one aborted answer).
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, test } from "vitest"
import { BIN } from "../harness.ts"
import { readExport } from "../../src/provenance/index.ts"

const exec = promisify(execFile)
const here = path.dirname(fileURLToPath(import.meta.url))
const REAL = path.join(here, "fixtures/opencode-ai-1.18.33-export.json")
const SANITIZED = path.join(here, "fixtures/opencode-ai-1.18.33-export-sanitized.json")
const ABORTED_MESSAGE = "msg_210df0a8f001w55PB351RujV6e"

describe("a real opencode-ai export", () => {
  test.each([REAL, SANITIZED])(
    "%s reads as an upstream export: four messages, the aborted one named, the spine's facts not recorded",
    (file) => {
      const raw = JSON.parse(readFileSync(file, "utf8"))
      // The shape this reader keys on: { info, messages } with no version.
      expect(Object.keys(raw).sort()).toEqual(["info", "messages"])
      const result = readExport(readFileSync(file, "utf8"))
      if (!result.ok) throw new Error(result.error)
      expect(result.format).toBe("upstream-opencode")
      expect(result.session?.id).toBe("ses_def2103c3ffe75j07aorCdQCOL")
      expect(result.counts.messages).toBe(4)
      expect(result.stoppedMessages).toEqual([{ messageId: ABORTED_MESSAGE, error: "MessageAbortedError" }])
      expect(result.incidents).toEqual([])
      expect(result.unknownFields).toEqual([])
      expect(result.notRecorded).toEqual(expect.arrayContaining(["run_summary", "origin", "retry"]))
    },
  )

  test("opencode explain prints it in plain words", async () => {
    const { stdout, stderr } = await exec(process.execPath, [BIN, "explain", REAL])
    expect(stderr).toBe("")
    expect(stdout).toMatch(/^Upstream opencode session export \(messages only\)\./)
    expect(stdout).toContain("Session ses_def2103c3ffe75j07aorCdQCOL.")
    expect(stdout).toContain(`Message ${ABORTED_MESSAGE} ended with MessageAbortedError.`)
    expect(stdout).toContain("cannot say why any run stopped")
    // Nothing of the user's transcript is echoed by explain.
    expect(stdout).not.toContain("say hello")
    expect(stdout).not.toContain("/tmp/oc-upstream")
  })
})
