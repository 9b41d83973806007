/** A run stopped because the desktop window was closed reads as that sentence, not as a raw token. */
import { readExport } from "opencode/provenance/export-reader"
import type { IncidentChain } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { headlineWords } from "../src/diagnostics/story.ts"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { exportFor } from "./fixtures.ts"

function shutdownIncident(signal: "desktop_window_closed" | "desktop_window_lost"): IncidentChain {
  const read = readExport(exportFor("diagnosed"))
  if (!read.ok) throw new Error(read.error)
  return { ...read.incidents[0]!, origin: { kind: "shutdown", signal, provenance: { complete: true, missing: [] } } }
}

describe("desktop window close in words", () => {
  it("the banner and the panel say the desktop window was closed", () => {
    const chain = shutdownIncident("desktop_window_closed")
    const banner = bannerText({ classification: chain.classification, incident: chain, isOwnAction: () => false })
    expect(banner).toContain("because the server shut down (the desktop window was closed)")
    expect(headlineWords(chain, exportData(exportFor("diagnosed")).records)).toContain(
      "the server was shut down because its desktop window was closed",
    )
  })

  it("a browser that died is not called a close", () => {
    const chain = shutdownIncident("desktop_window_lost")
    const banner = bannerText({ classification: chain.classification, incident: chain, isOwnAction: () => false })
    expect(banner).toContain("(the desktop window's browser ended unexpectedly)")
    expect(banner).not.toContain("closed")
  })
})
