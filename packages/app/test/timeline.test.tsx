import { fireEvent, render, screen } from "@solidjs/testing-library"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor, type Scenario } from "./fixtures.ts"

function renderPanel(scenario: Scenario) {
  render(() => (
    <IncidentPanelView data={exportData(exportFor(scenario))} width={900} context={{ isOwnAction: () => true }} />
  ))
  const svg = screen.getByTestId("timeline-svg")
  return { svg, rows: () => Array.from(svg.querySelectorAll("g.wf-row")).map((row) => row.getAttribute("data-row")) }
}

describe("timeline in the panel", () => {
  it("a click on a row expands its details in place; a second click collapses them", () => {
    const { svg } = renderPanel("diagnosed")
    const row = () => svg.querySelector('g.wf-row[data-row="lc:lc_reload1"]')!
    expect(svg.querySelector('[data-testid="row-details"]')).toBeNull()
    row().dispatchEvent(new MouseEvent("click", { bubbles: true }))
    const details = svg.querySelector('[data-testid="row-details"]')!
    expect(details.getAttribute("data-row")).toBe("lc:lc_reload1")
    expect(details.textContent).toContain("lc_reload1")
    expect(row().getAttribute("aria-expanded")).toBe("true")
    // Another row opens beside it: each row's details are its own.
    svg
      .querySelector('g.wf-row[data-row="run:run_one"]')!
      .dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }))
    expect(
      Array.from(svg.querySelectorAll('[data-testid="row-details"]')).map((node) => node.getAttribute("data-row")),
    ).toEqual(["lc:lc_reload1", "run:run_one"])
    row().dispatchEvent(new MouseEvent("click", { bubbles: true }))
    expect(
      Array.from(svg.querySelectorAll('[data-testid="row-details"]')).map((node) => node.getAttribute("data-row")),
    ).toEqual(["run:run_one"])
    expect(row().getAttribute("aria-expanded")).toBe("false")
  })

  it("'Cause path only' hides the rows off the path from the cause to the stop, and says how many", () => {
    const { rows } = renderPanel("crash_evidence")
    const all = rows()
    expect(all).toContain("restart")
    const toggle = screen.getByTestId("cause-path-toggle")
    expect(toggle.tagName).toBe("BUTTON")
    expect(toggle.getAttribute("aria-pressed")).toBe("false")
    fireEvent.click(toggle)
    expect(toggle.getAttribute("aria-pressed")).toBe("true")
    expect(rows()).toEqual(all.filter((id) => id !== "restart"))
    expect(screen.getByTestId("cause-path-hidden").textContent).toBe("1 step off the path is hidden.")
    fireEvent.click(toggle)
    expect(rows()).toEqual(all)
    expect(screen.queryByTestId("cause-path-hidden")).toBeNull()
  })

  it("with nothing off the path, the toggle says so rather than seeming to do nothing", () => {
    renderPanel("diagnosed")
    fireEvent.click(screen.getByTestId("cause-path-toggle"))
    expect(screen.getByTestId("cause-path-hidden").textContent).toBe("Every step is on the path.")
  })

  it("what the drawing says only to a pointer (a tick's, the unknown stretch's and the broken axis's <title>) is said to the keyboard too", () => {
    const { svg } = renderPanel("crash_evidence")
    const details = screen.getByTestId("timeline-details")
    svg.querySelector('g.wf-row[data-kind="run"]')!.dispatchEvent(new FocusEvent("focus"))
    const pairs = Array.from(details.querySelectorAll("dt")).map((dt) => [
      dt.textContent,
      dt.nextElementSibling?.textContent ?? "",
    ])
    expect(pairs.map(([key]) => key)).toEqual([
      "step",
      "at",
      "took",
      "unknown",
      "run",
      "write started",
      "last heartbeat",
    ])
    expect(pairs.find(([key]) => key === "unknown")![1]).toMatch(
      /^from \+2\.00 s to \+60\.00 s, until the server restarted at \d\d:\d\d:\d\d\.\d{3}$/,
    )
    expect(screen.getByTestId("legend-break").textContent).toContain("time axis broken")
  })
})
