/**
 * The panel says nothing stopped only when it read every run record of the export: a damaged
 * export (runs not a list, or none of them readable) says it cannot tell, as `explain` does.
 */
import { cleanup, render, screen } from "@solidjs/testing-library"
import { afterEach, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor } from "./fixtures.ts"

afterEach(cleanup)

const headlineOf = (doc: unknown) => {
  render(() => <IncidentPanelView data={exportData(doc)} context={{ isOwnAction: () => false }} />)
  const text = screen.getByTestId("panel-headline").textContent
  cleanup()
  return text
}

it("an export whose runs cannot be read never says that nothing stopped", () => {
  const completed = exportFor("diagnosed")
  completed.diagnostics.runs = completed.diagnostics.runs.map((run) => ({
    ...run,
    classification: "completed",
    interrupt: undefined,
  }))
  completed.diagnostics.lifecycle = []
  completed.incidents = []
  expect(headlineOf(completed)).toBe("No stopped or lost run is recorded for this session.")

  for (const runs of ["oops", null, [{ runId: 5 }]]) {
    const damaged = exportFor("diagnosed") as { diagnostics: Record<string, unknown>; incidents: unknown[] }
    damaged.diagnostics.runs = runs
    damaged.diagnostics.lifecycle = []
    damaged.incidents = []
    expect(headlineOf(damaged)).toMatch(/cannot say that nothing stopped/)
  }
})
