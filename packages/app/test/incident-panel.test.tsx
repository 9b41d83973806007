import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it, vi } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanel, IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { INTERNAL_TOKENS } from "../src/diagnostics/glossary.ts"
import { clock, clockMs } from "../src/diagnostics/story.ts"
import { exportFor, type Scenario, SESSION, T0 } from "./fixtures.ts"
import { fakeFetch } from "./helpers.ts"

function renderPanel(
  scenario: Scenario,
  isOwnAction: (id: string | undefined) => boolean = (id) => id === "act_reload1",
) {
  render(() => <IncidentPanelView data={exportData(exportFor(scenario))} width={900} context={{ isOwnAction }} />)
  const panel = screen.getByTestId("incident-panel")
  return {
    panel,
    verdict: screen.getByTestId("panel-verdict"),
    headline: screen.getByTestId("panel-headline").textContent ?? "",
    missing: screen.queryAllByTestId("missing-field").map((item) => item.getAttribute("data-field")),
    missingWords: screen.queryAllByTestId("missing-field").map((item) => item.textContent),
    callouts: Array.from(screen.getByTestId("timeline-svg").querySelectorAll('[data-testid="missing-callout"]')).map(
      (node) => node.getAttribute("aria-label") ?? "",
    ),
    retry: screen.getByTestId("retry-statement").textContent ?? "",
    history: screen.getAllByTestId("history-item").map((item) => item.textContent ?? ""),
  }
}

/** What a person reads: everything but the ids disclosure and the raw records, which are collapsed. */
function readableText(panel: HTMLElement): string {
  const copy = panel.cloneNode(true) as HTMLElement
  copy.querySelectorAll("details").forEach((node) => node.remove())
  copy.querySelectorAll("svg").forEach((node) => node.remove())
  return copy.textContent ?? ""
}

describe("incident panel: the answer in words", () => {
  it("diagnosed: leads with who stopped it and when, ids only behind the disclosure", () => {
    const panel = renderPanel("diagnosed")
    expect(panel.headline).toBe(
      `Stopped: you clicked Reload project at ${clock(T0 + 3_450)}, 3.5 s into the run (4 chunks of output shown).`,
    )
    expect(panel.verdict.textContent).toBe("Complete evidence")
    expect(panel.verdict.getAttribute("data-verdict")).toBe("diagnosed")
    expect(panel.missing).toEqual([])
    expect(panel.callouts).toEqual([])
    expect(panel.retry).toContain("Safe to resend: no tool that changes anything had started.")
    expect(readableText(panel.panel)).not.toMatch(/lc_|req_|act_|run_one/)
    expect(screen.getByTestId("panel-ids").textContent).toContain("lc_reload1")
    // Ids and records are collapsed by default.
    expect(screen.getByTestId("panel-ids").hasAttribute("open")).toBe(false)
    expect(screen.getByTestId("panel-ids").nextElementSibling?.hasAttribute("open")).toBe(false)
  })

  it("another window's click is not called yours", () => {
    const panel = renderPanel("diagnosed", () => false)
    expect(panel.headline).toContain("Stopped: Reload project was clicked in another app window at")
  })

  it("no internal token reaches the text a person reads, for any verdict", () => {
    for (const scenario of [
      "diagnosed",
      "partially_diagnosed",
      "missing_provenance",
      "crash_evidence",
      "remote_reported",
    ] as const) {
      const panel = renderPanel(scenario)
      const text = readableText(panel.panel) + panel.callouts.join(" ")
      for (const token of INTERNAL_TOKENS) expect(text, `${scenario}: ${token}`).not.toContain(token)
      cleanup()
    }
  })

  it("partially diagnosed: says which fact is missing, in words, and draws it as not recorded", () => {
    const panel = renderPanel("partially_diagnosed")
    expect(panel.verdict.textContent).toBe("Incomplete evidence")
    expect(panel.headline).toContain(
      "the app asked the server for a project reload, but which button was clicked was not recorded",
    )
    expect(panel.missing).toEqual(["renderer_action"])
    expect(panel.missingWords).toEqual(["which app button was clicked"])
    expect(panel.callouts).toEqual(["Not recorded: which app button was clicked"])
  })

  it("missing provenance: says nothing recorded the cause and names every missing fact", () => {
    const panel = renderPanel("missing_provenance")
    expect(panel.verdict.textContent).toBe("No record of the cause")
    expect(panel.headline).toContain("Stopped: nothing recorded who or what stopped it")
    expect(panel.missing).toEqual(["lifecycle_action", "interrupt_meta"])
    expect(panel.callouts).toContain("Not recorded: the reload or close that stopped it")
    expect(panel.callouts).toContain("Not recorded: the stop signal's record")
  })

  it("crash evidence: last evidence, then unknown until the restart, hatched; retry not safe after a write", () => {
    const panel = renderPanel("crash_evidence")
    expect(panel.verdict.textContent).toBe("Crash: cause unknown")
    expect(panel.headline).toBe(
      `Lost: the server stopped without finishing this run. Last evidence at ${clock(T0 + 2_000)}, 2.0 s into the run; what happened after is unknown until the server restarted at ${clock(T0 + 60_000)}.`,
    )
    expect(panel.headline).not.toContain("Stopped:")
    expect(panel.retry).toContain(
      "Not safe to resend as is: `write` (can write files) started at 1.0 s and may not have finished.",
    )
    const svg = screen.getByTestId("timeline-svg")
    expect(svg.querySelector('[data-testid="unknown-stretch"]')).not.toBeNull()
    // The run's bar ends at the last evidence: it is never drawn alive while the server was down.
    expect(svg.querySelector('[data-testid="axis-break"]')).not.toBeNull()
    expect(panel.history.at(-1)).toContain("Server restarted and found the run unfinished")
  })

  it("remote reported: attributes the stop to the remote workspace and claims no local cause", () => {
    const panel = renderPanel("remote_reported")
    expect(panel.verdict.textContent).toBe("Reported by the remote workspace")
    expect(panel.headline).toContain("the remote workspace ws_remote stopped it; why is known only there")
    expect(
      screen
        .getAllByTestId("hop")
        .filter((hop) => hop.getAttribute("data-status") === "remote_reported")
        .map((hop) => hop.getAttribute("data-hop")),
    ).toEqual(["renderer", "request", "lifecycle"])
  })

  it("the event history is numbered and in order: prompt, output, click, reload, stop", () => {
    const panel = renderPanel("diagnosed")
    const list = screen.getByTestId("event-history")
    expect(list.tagName).toBe("OL")
    expect(panel.history.map((text) => text.replace(/\+[\d.]+ s.*$/, "").replace(/^\d+/, ""))).toEqual([
      "Prompt sent; the run started (scripted/slow)",
      "First output shown",
      "Last output shown",
      "Project reload requested (you clicked Reload project)",
      "Project reload started",
      "Run stopped by a project reload",
      "Project reload finished",
    ])
    expect(panel.history[0]).toContain(`+0.00 s ${clockMs(T0)}`)
  })

  it("shows a row's ids when it is focused, and every row is keyboard-focusable", () => {
    render(() => <IncidentPanelView data={exportData(exportFor("diagnosed"))} width={900} />)
    const rows = Array.from(screen.getByTestId("timeline-svg").querySelectorAll<SVGGElement>("g.wf-row"))
    expect(rows.map((row) => row.getAttribute("data-row"))).toEqual([
      "act:act_reload1",
      "req:req_reload1",
      "lc:lc_reload1",
      "run:run_one",
    ])
    for (const row of rows) {
      expect(row.getAttribute("tabindex")).toBe("0")
      expect(row.getAttribute("aria-label")).toBeTruthy()
    }
    rows[2]!.dispatchEvent(new FocusEvent("focus"))
    expect(screen.getByTestId("timeline-details").textContent).toContain("lc_reload1")
  })

  it("below 600 px the event history is the default view", () => {
    render(() => <IncidentPanelView data={exportData(exportFor("diagnosed"))} width={390} />)
    expect(screen.getByTestId("view-history").getAttribute("aria-pressed")).toBe("true")
    expect(screen.getByTestId("event-history")).toBeTruthy()
    expect((screen.getByTestId("timeline-svg").parentElement as HTMLElement).hidden).toBe(true)
  })

  it("offers Resend prompt only when resending is safe", async () => {
    const onResend = vi.fn(async () => {})
    render(() => <IncidentPanelView data={exportData(exportFor("diagnosed"))} width={900} onResend={onResend} />)
    fireEvent.click(screen.getByTestId("resend-button"))
    await waitFor(() => expect(onResend).toHaveBeenCalledWith("run_one"))
    cleanup()
    render(() => <IncidentPanelView data={exportData(exportFor("crash_evidence"))} width={900} onResend={onResend} />)
    expect(screen.queryByTestId("resend-button")).toBeNull()
  })

  it("says so when the export records no stopped run", () => {
    const doc = exportFor("diagnosed")
    doc.diagnostics.runs = doc.diagnostics.runs.map((run) => ({
      ...run,
      classification: "completed" as const,
      interrupt: undefined,
    }))
    render(() => <IncidentPanelView data={exportData(doc)} />)
    expect(screen.getByTestId("panel-headline").textContent).toBe(
      "No stopped or lost run is recorded for this session.",
    )
    expect(screen.queryByTestId("panel-verdict")).toBeNull()
  })
})

/** The panel as the app mounts it: over a server connection and this tab's action log. */
function renderLivePanel(
  connection: ReturnType<typeof createServerConnection>,
  actions: ReturnType<typeof createClientActions>,
) {
  render(() => (
    <ServerProvider connection={connection}>
      <ClientActionProvider state={actions}>
        <IncidentPanel sessionId={SESSION} />
      </ClientActionProvider>
    </ServerProvider>
  ))
}

describe("incident panel: export", () => {
  const created: Blob[] = []
  afterEach(() => {
    vi.restoreAllMocks()
    created.length = 0
  })

  it("flushes the action log, then downloads the export as session-<id>-export.json", async () => {
    const doc = exportFor("diagnosed")
    const fetch = fakeFetch((request) => {
      if (request.url.includes("/diagnostics/renderer"))
        return { body: { accepted: (request.body as { actions: unknown[] }).actions.length, rejected: 0 } }
      if (request.url.includes("/export")) return { body: doc }
      return { status: 404 }
    })
    const connection = createServerConnection({
      baseUrl: "http://127.0.0.1:4096",
      directory: () => "/p",
      token: () => undefined,
      fetchImpl: fetch.impl,
    })
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

    renderLivePanel(connection, actions)
    const button = await screen.findByTestId("export-button")
    expect(screen.getByTestId("panel-verdict").textContent).toBe("Complete evidence")
    const before = fetch.requests.length
    fireEvent.click(button)
    await waitFor(() => expect(downloads).toEqual([`session-${SESSION}-export.json`]))

    const during = fetch.requests
      .slice(before)
      .map((request) => `${request.method} ${new URL(request.url).pathname}${new URL(request.url).search}`)
    expect(during.slice(0, 2)).toEqual([
      "POST /diagnostics/renderer",
      `GET /session/${SESSION}/export?content=diagnostics`,
    ])
    const flushed = fetch.requests[before]!.body as { actions: { name: string }[] }
    expect(flushed.actions.map((action) => action.name)).toEqual(["session.export"])
    // The earlier action was uploaded when the panel opened, before its export was read.
    const opening = fetch.requests.slice(0, before).map((request) => new URL(request.url).pathname)
    expect(opening).toEqual(["/diagnostics/renderer", `/session/${SESSION}/export`])
    expect((fetch.requests[0]!.body as { actions: { name: string }[] }).actions.map((action) => action.name)).toEqual([
      "instance.reload",
    ])
    const exportRequest = fetch.requests[before + 1]!
    expect(exportRequest.headers["x-opencode-action-name"]).toBe("session.export")
    expect(JSON.parse(await created[0]!.text())).toMatchObject({ schema: "opencode.session-export", version: 2 })
  })
})

describe("incident panel: when the record cannot be read", () => {
  afterEach(() => vi.restoreAllMocks())

  /** The panel over a fetch that answers the action-log upload and hands the export to `exportAnswer`. */
  function renderOver(exportAnswer: () => Promise<Response>) {
    let exportReads = 0
    const fetchImpl = (async (input: RequestInfo | URL) => {
      if (String(input).includes("/diagnostics/renderer"))
        return new Response(JSON.stringify({ accepted: 0, rejected: 0 }))
      if (String(input).includes("/export")) {
        exportReads++
        return exportAnswer()
      }
      return new Response("", { status: 404 })
    }) as typeof fetch
    const connection = createServerConnection({ baseUrl: "http://127.0.0.1:4096", directory: () => "/p", fetchImpl })
    const actions = createRoot(() => createClientActions({ connection, page: () => "/session/ses_test1" }))
    renderLivePanel(connection, actions)
    return { reads: () => exportReads }
  }

  it("a server that does not answer: says so, offers Try again, and reads again when asked", async () => {
    let up = false
    const view = renderOver(async () => {
      if (!up) throw new TypeError("Failed to fetch")
      return new Response(JSON.stringify(exportFor("diagnosed")), { status: 200 })
    })
    const alert = await screen.findByRole("alert")
    expect(alert.textContent).toContain("The server is not answering")
    expect(screen.queryByText(/Loading what is recorded/)).toBeNull()
    up = true
    fireEvent.click(screen.getByRole("button", { name: "Try again" }))
    await waitFor(() => expect(screen.getByTestId("panel-verdict").textContent).toBe("Complete evidence"))
    expect(view.reads()).toBe(2)
  })

  it("an answer cut short is said to be cut short, never blamed on a server that is down", async () => {
    renderOver(async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"schema":"opencode.session-export","runs":['))
          controller.error(new TypeError("terminated"))
        },
      })
      return new Response(body, { status: 200 })
    })
    const alert = await screen.findByRole("alert")
    expect(alert.textContent).not.toContain("not answering")
    expect(alert.textContent).toContain("stopped sending")
    expect(alert.textContent).toContain("Try again")
  })

  it("a refusal with a status is worded with the server's own message", async () => {
    renderOver(
      async () =>
        new Response(
          JSON.stringify({ error: { code: "session_not_found", message: "Session ses_gone was not found" } }),
          {
            status: 404,
          },
        ),
    )
    const alert = await screen.findByRole("alert")
    expect(alert.textContent).toBe("What is recorded about this run could not be read: Session ses_gone was not found")
  })
})
