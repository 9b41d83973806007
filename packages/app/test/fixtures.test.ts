import { readExport } from "opencode/provenance/export-reader"
import { describe, expect, it } from "vitest"
import { exportFor, type Scenario } from "./fixtures.ts"

describe("fixtures", () => {
  it.each<Scenario>(["diagnosed", "partially_diagnosed", "missing_provenance", "crash_evidence", "remote_reported"])(
    "the %s export derives that verdict",
    (scenario) => {
      const read = readExport(exportFor(scenario))
      expect(read.ok).toBe(true)
      if (!read.ok) return
      expect(read.incidents).toHaveLength(1)
      expect(read.incidents[0]!.verdict).toBe(scenario)
    },
  )
})
