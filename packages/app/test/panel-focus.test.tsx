/**
 * Keyboard: "Why did this run stop?" opens a modal drawer and makes the page behind it inert. The
 * focus must move into the drawer whatever its content (the explanation, "Loading…", the error),
 * must not be taken back from where the user put it inside the drawer, and Escape returns it to
 * the button that opened the drawer.
 */
import { fireEvent, screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { afterEach, describe, expect, it, vi } from "vitest"
import { exportFor, SESSION } from "./fixtures.ts"
import { finishedRun, renderSessionApp, sessionInfo } from "./session-app.tsx"

const base = `/session/${SESSION}`

/** A session with one stopped run; `exportAnswer` answers the panel's read of the export. */
function stoppedSession(exportAnswer: () => unknown) {
  const doc = exportFor("diagnosed")
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const app = renderSessionApp({
    directory: "/p",
    path: `/app/session/${SESSION}`,
    handler: (method, path) => {
      if (method === "POST") return { accepted: 0, rejected: 0 }
      if (path === base) return sessionInfo()
      if (path === `${base}/message`) return []
      if (path === `${base}/run`) return [finishedRun(doc.diagnostics.runs[0])]
      if (path === `${base}/incident`) return read.incidents
      if (path === `${base}/export`) return exportAnswer()
      return []
    },
  })
  return { app, doc }
}

const failed = { __status: 503, body: { error: { code: "storage_unavailable", message: "the database is locked" } } }

/** Focuses the banner's "Why?" button, as a keyboard user would, and presses it. */
async function openFromBanner() {
  const button = await screen.findByTestId("suspended-banner-button")
  button.focus()
  expect(document.activeElement).toBe(button)
  fireEvent.click(button)
  return button
}

const focused = () => {
  const active = document.activeElement as HTMLElement | null
  return `<${active?.tagName} id=${active?.id} data-testid=${active?.getAttribute("data-testid")}>`
}
const heading = () => screen.getByTestId("incident-drawer").querySelector<HTMLElement>("#incident-panel-title")

describe("the incident drawer takes the focus", () => {
  afterEach(() => vi.restoreAllMocks())

  it("when the export cannot be read: the error view's heading has it, not the inert page", async () => {
    stoppedSession(() => failed)
    await openFromBanner()
    await screen.findByText(/could not be read/)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const drawer = screen.getByTestId("incident-drawer")
    expect(drawer.contains(document.activeElement), `focus is on ${focused()}`).toBe(true)
    expect(document.activeElement).toBe(heading())
  })

  it("while the export loads, then on the explanation's heading once it is shown (the loading view is gone)", async () => {
    let answer!: (value: unknown) => void
    const { doc } = stoppedSession(() => new Promise((resolve) => (answer = resolve)))
    await openFromBanner()
    await screen.findByText(/Loading what is recorded/)
    await waitFor(() => expect(document.activeElement, `focus is on ${focused()}`).toBe(heading()))
    expect(screen.getByTestId("incident-panel").getAttribute("aria-busy")).toBe("true")

    await waitFor(() => expect(answer).toBeTypeOf("function"))
    answer(doc)
    await screen.findByTestId("panel-headline")
    await waitFor(() => expect(document.activeElement, `focus is on ${focused()}`).toBe(heading()))
    expect(screen.getByTestId("incident-panel").getAttribute("aria-busy")).toBeNull()
  })

  it("after Try again: the loading view that replaces the error keeps it in the drawer", async () => {
    let fail = true
    const { doc } = stoppedSession(() => (fail ? failed : doc))
    await openFromBanner()
    const retry = await screen.findByText("Try again")
    retry.focus()
    fail = false
    fireEvent.click(retry)
    await screen.findByTestId("panel-headline")
    await waitFor(() => expect(document.activeElement, `focus is on ${focused()}`).toBe(heading()))
  })

  it("is not taken back from where the user moved it inside the drawer when the panel reads again", async () => {
    const { app } = stoppedSession(() => exportFor("diagnosed"))
    await openFromBanner()
    const exportButton = await screen.findByTestId("export-button")
    await waitFor(() => expect(document.activeElement).toBe(heading()))
    // The download stays in the test: no blob, no navigation to it.
    vi.spyOn(URL, "createObjectURL").mockImplementation(() => "blob:test")
    vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {})
    const downloads: string[] = []
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloads.push(this.download)
    })
    const exportReads = () => app.calls.filter((call) => call.path.startsWith(`${base}/export`)).length
    const reads = exportReads()
    exportButton.focus()
    fireEvent.click(exportButton)
    // The export's download, then the panel's own read again (a state change of the panel).
    await waitFor(() => expect(exportReads()).toBeGreaterThanOrEqual(reads + 2))
    await screen.findByText("Downloaded.")
    expect(downloads).toEqual([`session-${SESSION}-export.json`])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(document.activeElement, `focus is on ${focused()}`).toBe(exportButton)
  })

  it("and Escape gives it back to the button that opened the drawer, even from the loading view", async () => {
    stoppedSession(() => new Promise(() => {}))
    const opener = await openFromBanner()
    await screen.findByText(/Loading what is recorded/)
    await waitFor(() => expect(document.activeElement).toBe(heading()))
    fireEvent.keyDown(document, { key: "Escape" })
    await waitFor(() => expect(screen.queryByTestId("incident-drawer")).toBeNull())
    await waitFor(() => expect(document.activeElement, `focus is on ${focused()}`).toBe(opener))
  })
})
