/**
 * The event history's filter for clicks says "Your actions" only when every click it lists was
 * made in this app tab; a click from another app window, or from a tab not known, is an app action.
 */
import { render, screen } from "@solidjs/testing-library"
import { describe, expect, it } from "vitest"
import { actionFilterLabel } from "../src/diagnostics/event-history.tsx"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor } from "./fixtures.ts"

function actionFilter(isOwnAction?: (id: string | undefined) => boolean): string {
  render(() => (
    <IncidentPanelView
      data={exportData(exportFor("diagnosed"))}
      width={900}
      context={isOwnAction ? { isOwnAction } : {}}
    />
  ))
  const filter = screen
    .getAllByTestId("history-filter")
    .find((button) => button.getAttribute("data-kind") === "action")!
  return filter.textContent ?? ""
}

describe("the history's click filter", () => {
  it("is the user's when the click was made in this tab", () => {
    expect(actionFilter((id) => id === "act_reload1")).toMatch(/^Your actions \(1\)/)
  })

  it("is an app action when the click was made in another window", () => {
    expect(actionFilter(() => false)).toMatch(/^App actions \(1\)/)
  })

  it("is an app action when which tab made it is not known", () => {
    expect(actionFilter()).toMatch(/^App actions \(1\)/)
  })

  it("is an app action when the clicks are mixed, or there are none", () => {
    const own = (id: string | undefined) => id === "a"
    expect(actionFilterLabel(["a"], own)).toBe("Your actions")
    expect(actionFilterLabel(["a", "b"], own)).toBe("App actions")
    expect(actionFilterLabel([], own)).toBe("App actions")
    expect(actionFilterLabel(["a"], undefined)).toBe("App actions")
  })
})
