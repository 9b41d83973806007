/**
 * A run that did not settle within the settle timeout of a Reload: the close writes its summary as
 * `unknown_interrupt`, `missing: ["run_summary"]`, `closeSite: "settle_timeout"`, keeping its
 * InterruptMeta (processor.ts finalizeUnsettled). The server's chain names the reload and who
 * clicked it; the banner must not say the cause is unknown while the panel names it.
 */
import { readExport } from "opencode/provenance/export-reader"
import { RunSummary } from "opencode/provenance/schemas"
import { expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { headlineWords } from "../src/diagnostics/story.ts"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { exportFor } from "./fixtures.ts"

it("a reload's run finalised at the settle timeout: banner and panel tell the same cause", () => {
  const doc = exportFor("diagnosed")
  const summary = RunSummary.parse({
    ...doc.diagnostics.runs[0]!,
    classification: "unknown_interrupt",
    missing: ["run_summary"],
    closeSite: "settle_timeout",
  })
  doc.diagnostics.runs[0] = summary
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const chain = read.incidents[0]!
  const mine = (id: string | undefined) => id === "act_reload1"
  const headline = headlineWords(chain, exportData(doc).records, { isOwnAction: mine })
  const banner = bannerText({ classification: summary.classification, summary, incident: chain, isOwnAction: mine })
  expect(headline).toContain("you clicked Reload project")
  expect(banner).not.toContain("cause unknown")
})
