/**
 * A run finalised at the settle timeout keeps its cause (its InterruptMeta) under the row
 * classification `unknown_interrupt`: the words read from the row alone (picker, transcript marker,
 * history's stop) must not say the cause was not recorded while the chain names it.
 */
import { readExport } from "opencode/provenance/export-reader"
import { RunSummary } from "opencode/provenance/schemas"
import { expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { CLASSIFICATION_WORDS, classificationWords, STOP_MARKER_WORDS } from "../src/diagnostics/glossary.ts"
import { eventHistory } from "../src/diagnostics/story.ts"
import { exportFor } from "./fixtures.ts"

const CLAIMS_NO_CAUSE = /cause (not recorded|unknown)|nothing recorded/i

it("the row's own words for an unknown interrupt never claim no cause was recorded", () => {
  expect(CLASSIFICATION_WORDS.unknown_interrupt).not.toMatch(CLAIMS_NO_CAUSE)
  expect(STOP_MARKER_WORDS.unknown_interrupt).not.toMatch(CLAIMS_NO_CAUSE)
  expect(classificationWords("unknown_interrupt")).not.toMatch(CLAIMS_NO_CAUSE)
})

it("a settle-timeout run's history names the reload and does not call its cause unrecorded", () => {
  const doc = exportFor("diagnosed")
  doc.diagnostics.runs[0] = RunSummary.parse({
    ...doc.diagnostics.runs[0]!,
    classification: "unknown_interrupt",
    missing: ["run_summary"],
    closeSite: "settle_timeout",
  })
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const chain = read.incidents[0]!
  expect(chain.origin.kind).toBe("api_route")
  const words = eventHistory(chain, exportData(doc).records, { isOwnAction: (id) => id === "act_reload1" }).map(
    (item) => item.words,
  )
  expect(words.join(" | ")).not.toMatch(CLAIMS_NO_CAUSE)
})
