/**
 * Export from a run's panel downloads the export, then the panel reads it again. When the user
 * closed the panel before the answer came, the file is still saved (they asked for it, and it
 * takes them nowhere), but the panel that is gone reads nothing more.
 */
import { fireEvent, screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { afterEach, expect, it, vi } from "vitest"
import { exportFor, SESSION } from "./fixtures.ts"
import { finishedRun, renderSessionApp, sessionInfo } from "./session-app.tsx"

afterEach(() => vi.restoreAllMocks())

it("a late Export answer saves the file and reads nothing more for a panel already closed", async () => {
  const doc = exportFor("diagnosed")
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const base = `/session/${SESSION}`
  let slow = false
  let answer!: () => void
  const app = renderSessionApp({
    directory: "/p",
    path: `/app/session/${SESSION}/run/run_one`,
    handler: async (method, path) => {
      if (method === "POST") return { accepted: 0, rejected: 0 }
      if (path === base) return sessionInfo()
      if (path === `${base}/message`) return []
      if (path === `${base}/run`) return [finishedRun(doc.diagnostics.runs[0])]
      if (path === `${base}/incident`) return read.incidents
      if (path === `${base}/export`) {
        if (slow) await new Promise<void>((resolve) => (answer = resolve))
        return doc
      }
      return []
    },
  })
  vi.spyOn(URL, "createObjectURL").mockImplementation(() => "blob:test")
  vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {})
  const downloads: string[] = []
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    downloads.push(this.download)
  })
  const exportReads = () => app.calls.filter((call) => call.path.startsWith(`${base}/export`)).length

  const button = await screen.findByTestId("export-button")
  slow = true
  fireEvent.click(button)
  await waitFor(() => expect(answer).toBeTypeOf("function"))
  const reads = exportReads()
  fireEvent.keyDown(document, { key: "Escape" })
  await waitFor(() => expect(screen.queryByTestId("incident-drawer")).toBeNull())

  slow = false
  answer()
  await waitFor(() => expect(downloads).toEqual([`session-${SESSION}-export.json`]))
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(exportReads()).toBe(reads)
  expect(window.location.pathname).toBe(`/app/session/${SESSION}`)
})
