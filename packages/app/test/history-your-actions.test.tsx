/** The event history's filter must not call another window's click "Your actions". */
import { render, screen } from "@solidjs/testing-library"
import { expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor } from "./fixtures.ts"

it("a Reload clicked in another app window is not listed under 'Your actions'", () => {
  render(() => (
    <IncidentPanelView data={exportData(exportFor("diagnosed"))} width={900} context={{ isOwnAction: () => false }} />
  ))
  expect(screen.getByTestId("panel-headline").textContent).toContain("clicked in another app window")
  const filter = screen
    .getAllByTestId("history-filter")
    .find((button) => button.getAttribute("data-kind") === "action")!
  expect(filter.textContent).not.toMatch(/^Your actions/)
})
