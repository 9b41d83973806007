import { fireEvent, render, screen } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import type { IncidentChain } from "opencode/provenance/schemas"
import { describe, expect, it, vi } from "vitest"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { SuspendedBanner } from "../src/pages/suspended-banner.tsx"
import { exportFor, type Scenario } from "./fixtures.ts"

function incident(scenario: Scenario): IncidentChain {
  const read = readExport(exportFor(scenario))
  if (!read.ok) throw new Error(read.error)
  return read.incidents[0]!
}
const mine = (id: string | undefined) => id === "act_reload1"
const nobody = () => false

describe("suspended-run banner", () => {
  it("says a reload the user requested stopped the run, and opens the panel", async () => {
    const onExplain = vi.fn()
    const chain = incident("diagnosed")
    render(() => (
      <SuspendedBanner
        classification={chain.classification}
        incident={chain}
        isOwnAction={mine}
        onExplain={onExplain}
      />
    ))
    const banner = screen.getByTestId("suspended-banner")
    expect(banner.textContent).toContain("This run was stopped by a project reload you requested (Reload project).")
    const button = screen.getByTestId("suspended-banner-button")
    expect(button.tagName).toBe("BUTTON")
    expect(button.textContent).toBe("Why did this run stop?")
    fireEvent.click(button)
    expect(onExplain).toHaveBeenCalledTimes(1)
  })

  it("does not claim the user's action when the action id is not this tab's", () => {
    const chain = incident("diagnosed")
    const text = bannerText({ classification: chain.classification, incident: chain, isOwnAction: nobody })
    expect(text).toBe("This run was stopped by a project reload requested from another app window (Reload project).")
    expect(text).not.toContain("you")
  })

  it("names the missing renderer action of a partially diagnosed stop", () => {
    const chain = incident("partially_diagnosed")
    expect(bannerText({ classification: chain.classification, incident: chain, isOwnAction: mine })).toBe(
      "This run was stopped by a project reload requested from the app without a recorded action (POST /instance/reload); partially diagnosed, missing which app button was clicked.",
    )
  })

  it("says the cause is unknown and names what is missing", () => {
    const chain = incident("missing_provenance")
    render(() => (
      <SuspendedBanner classification={chain.classification} incident={chain} isOwnAction={mine} onExplain={() => {}} />
    ))
    expect(screen.getByTestId("suspended-banner-text").textContent).toBe(
      "This run was stopped; cause unknown: missing the reload or close that stopped it; the stop signal's record.",
    )
  })

  it("before the incident arrives, names what the summary's chain will miss: its own missing fields and its absent interrupt", () => {
    expect(
      bannerText({
        classification: "unknown_interrupt",
        summary: { classification: "unknown_interrupt", missing: ["lifecycle_action"] } as never,
        isOwnAction: nobody,
      }),
    ).toBe(
      "This run was stopped; cause unknown: missing the reload or close that stopped it; the stop signal's record.",
    )
  })

  it("calls crash evidence what it is, not a lifecycle close", () => {
    const chain = incident("crash_evidence")
    const text = bannerText({ classification: chain.classification, incident: chain, isOwnAction: nobody })
    expect(text).toContain("server process ended without finishing it")
    expect(text).not.toMatch(/stopped by a project/)
  })

  it("attributes a remote stop to the remote workspace only", () => {
    const chain = incident("remote_reported")
    expect(bannerText({ classification: chain.classification, incident: chain, isOwnAction: nobody })).toBe(
      "This run was interrupted by the remote workspace ws_remote; what stopped it there is known only to the remote.",
    )
  })

  it("says the user's own Stop stopped a cancelled run", () => {
    const summary = {
      classification: "user_cancelled",
      missing: [],
      interrupt: {
        kind: "user_cancel",
        request: {
          requestId: "req_c",
          route: "/session/:id/abort",
          method: "POST",
          clientKind: "app",
          actionId: "act_reload1",
          actionName: "session.abort",
          actionHeader: "present",
        },
      },
    }
    expect(bannerText({ classification: "user_cancelled", summary: summary as never, isOwnAction: mine })).toBe(
      "This run was stopped by you (Stop).",
    )
  })

  it("is not shown for a completed run", () => {
    render(() => <SuspendedBanner classification="completed" isOwnAction={nobody} onExplain={() => {}} />)
    expect(screen.queryByTestId("suspended-banner")).toBeNull()
  })
})
