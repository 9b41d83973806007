import { fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it, vi } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanel, IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor, type Scenario, SESSION } from "./fixtures.ts"
import { fakeFetch } from "./helpers.ts"

function renderPanel(scenario: Scenario) {
  render(() => <IncidentPanelView data={exportData(exportFor(scenario))} width={900} />)
  return {
    verdict: screen.getByTestId("panel-verdict"),
    headline: screen.getByTestId("panel-headline").textContent ?? "",
    missing: screen.queryAllByTestId("missing-field").map((item) => item.textContent),
    callouts: Array.from(screen.getByTestId("timeline-svg").querySelectorAll('[data-testid="missing-callout"]')).map((node) => node.getAttribute("aria-label") ?? ""),
    retry: screen.getByTestId("retry-statement").textContent ?? "",
  }
}

describe("incident panel: verdict wording and missing fields", () => {
  it("diagnosed: names the operation and the initiating action, and shows no missing field", () => {
    const panel = renderPanel("diagnosed")
    expect(panel.verdict.textContent).toBe("Diagnosed")
    expect(panel.verdict.getAttribute("data-verdict")).toBe("diagnosed")
    expect(panel.headline).toContain("Stopped by reload lc_reload1")
    expect(panel.headline).toContain("POST /instance/reload from the app, action instance.reload (act_reload1)")
    expect(panel.headline).toContain("Every hop its origin requires is present.")
    expect(panel.missing).toEqual([])
    expect(panel.callouts).toEqual([])
    expect(panel.retry).toContain("Retrying is safe: no tool with side effects had started.")
    expect(panel.retry).toContain("basis: no_side_effects, visible_output_seen")
  })

  it("partially diagnosed: says so, and calls out the missing renderer action in the renderer lane", () => {
    const panel = renderPanel("partially_diagnosed")
    expect(panel.verdict.textContent).toBe("Partially diagnosed")
    expect(panel.headline).toContain("with no renderer action id")
    expect(panel.headline).toContain("Missing: renderer_action.")
    expect(panel.headline).not.toContain("Every hop")
    expect(panel.missing).toEqual(["renderer_action"])
    expect(panel.callouts).toEqual(["Renderer lane: missing: renderer_action"])
  })

  it("missing provenance: says nothing recorded the cause and names every missing field", () => {
    const panel = renderPanel("missing_provenance")
    expect(panel.verdict.textContent).toBe("Missing provenance")
    expect(panel.headline).toContain("Nothing recorded who or what stopped this run.")
    expect(panel.headline).toContain("Missing: lifecycle_action, interrupt_meta.")
    expect(panel.missing).toEqual(["lifecycle_action", "interrupt_meta"])
    expect(panel.callouts).toContain("Lifecycle lane: missing: lifecycle_action")
    expect(panel.callouts).toContain("Run lane: missing: interrupt_meta")
    expect(panel.callouts.some((label) => label.startsWith("Renderer lane") || label.startsWith("Request lane"))).toBe(true)
  })

  it("crash evidence: says the process ended, not a lifecycle close, and retry is not safe after a write", () => {
    const panel = renderPanel("crash_evidence")
    expect(panel.verdict.textContent).toBe("Crash evidence")
    expect(panel.headline).toContain("The server process ended without finalizing this run.")
    expect(panel.headline).toContain("not evidence of a lifecycle close")
    expect(panel.missing).toEqual(["run_summary", "interrupt_meta"])
    expect(panel.callouts).toEqual(["Run lane: missing: run_summary, interrupt_meta"])
    expect(panel.retry).toContain("Retrying is not safe: a tool with side effects had started (write).")
    const crash = screen.getByTestId("timeline-svg").querySelector(".mark-crash")
    expect(crash).not.toBeNull()
    expect(crash!.querySelector(".crash-x")).not.toBeNull()
  })

  it("remote reported: attributes the stop to the remote workspace and claims no local cause", () => {
    const panel = renderPanel("remote_reported")
    expect(panel.verdict.textContent).toBe("Remote reported")
    expect(panel.headline).toContain("the remote workspace ws_remote")
    expect(panel.headline).toContain("the remote initiator is not known locally")
    expect(panel.headline.match(/initiator/g)).toHaveLength(1)
    expect(panel.missing).toEqual([])
    expect(screen.getAllByTestId("hop").filter((hop) => hop.getAttribute("data-status") === "remote_reported").map((hop) => hop.getAttribute("data-hop"))).toEqual([
      "renderer",
      "request",
      "lifecycle",
    ])
  })

  it("shows a mark's fields when it is focused, and every mark is keyboard-focusable", () => {
    render(() => <IncidentPanelView data={exportData(exportFor("diagnosed"))} width={900} />)
    const marks = Array.from(screen.getByTestId("timeline-svg").querySelectorAll<SVGGElement>("g.mark"))
    expect(marks.length).toBe(4)
    for (const mark of marks) {
      expect(mark.getAttribute("tabindex")).toBe("0")
      expect(mark.getAttribute("aria-label")).toBeTruthy()
    }
    const lifecycle = marks.find((mark) => mark.getAttribute("data-mark") === "lc:lc_reload1")!
    lifecycle.dispatchEvent(new FocusEvent("focus"))
    const details = screen.getByTestId("timeline-details").textContent ?? ""
    expect(details).toContain("lc_reload1")
    expect(details).toContain("api_route")
  })

  it("says so when the export records no stopped run", () => {
    const doc = exportFor("diagnosed")
    doc.diagnostics.runs = doc.diagnostics.runs.map((run) => ({ ...run, classification: "completed" as const, interrupt: undefined }))
    render(() => <IncidentPanelView data={exportData(doc)} />)
    expect(screen.getByTestId("panel-headline").textContent).toBe("No interrupted run or crash is recorded in this export.")
    expect(screen.queryByTestId("panel-verdict")).toBeNull()
  })
})

describe("incident panel: export", () => {
  const created: Blob[] = []
  afterEach(() => {
    vi.restoreAllMocks()
    created.length = 0
  })

  it("flushes the action log, then downloads the export as session-<id>-export.json", async () => {
    const doc = exportFor("diagnosed")
    const fetch = fakeFetch((request) => {
      if (request.url.includes("/diagnostics/renderer")) return { body: { accepted: (request.body as { actions: unknown[] }).actions.length, rejected: 0 } }
      if (request.url.includes("/export")) return { body: doc }
      return { status: 404 }
    })
    const connection = createServerConnection({ baseUrl: "http://127.0.0.1:4096", directory: () => "/p", token: () => undefined, fetchImpl: fetch.impl })
    const actions = createRoot(() => createClientActions({ connection, page: () => "/session/ses_test1" }))
    await actions.runAction("instance.reload", async () => {})

    vi.spyOn(URL, "createObjectURL").mockImplementation((blob) => {
      created.push(blob as Blob)
      return "blob:test"
    })
    vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {})
    const downloads: string[] = []
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloads.push(this.download)
    })

    render(() => (
      <ServerProvider connection={connection}>
        <ClientActionProvider state={actions}>
          <IncidentPanel sessionId={SESSION} />
        </ClientActionProvider>
      </ServerProvider>
    ))
    const button = await screen.findByTestId("export-button")
    expect(screen.getByTestId("panel-verdict").textContent).toBe("Diagnosed")
    const before = fetch.requests.length
    fireEvent.click(button)
    await waitFor(() => expect(downloads).toEqual([`session-${SESSION}-export.json`]))

    const during = fetch.requests.slice(before).map((request) => `${request.method} ${new URL(request.url).pathname}${new URL(request.url).search}`)
    expect(during.slice(0, 2)).toEqual(["POST /diagnostics/renderer", `GET /session/${SESSION}/export?content=diagnostics`])
    const flushed = fetch.requests[before]!.body as { actions: { name: string }[] }
    expect(flushed.actions.map((action) => action.name)).toEqual(["session.export"])
    // The earlier action was uploaded when the panel opened, before its export was read.
    const opening = fetch.requests.slice(0, before).map((request) => new URL(request.url).pathname)
    expect(opening).toEqual(["/diagnostics/renderer", `/session/${SESSION}/export`])
    expect((fetch.requests[0]!.body as { actions: { name: string }[] }).actions.map((action) => action.name)).toEqual(["instance.reload"])
    const exportRequest = fetch.requests[before + 1]!
    expect(exportRequest.headers["x-opencode-action-name"]).toBe("session.export")
    expect(JSON.parse(await created[0]!.text())).toMatchObject({ schema: "opencode.session-export", version: 2 })
  })
})
