/**
 * A run's panel opened while the run is still running (its own URL, pasted or in a second tab)
 * says so. When a close then stops the run, the page learns it from its run list; the open panel
 * must read the export again and say what stopped the run, never "it finished".
 */
import { screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { expect, it } from "vitest"
import { queryKeys } from "../src/context/queries.ts"
import { exportFor, SESSION, T0 } from "./fixtures.ts"
import { finishedRun, renderSessionApp, sessionInfo } from "./session-app.tsx"

it("a panel opened on a running run explains its stop once the run has ended", async () => {
  const doc = exportFor("diagnosed")
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const summary = doc.diagnostics.runs[0]!
  const base = `/session/${SESSION}`
  let stopped = false
  const running = { runId: "run_one", sessionId: SESSION, model: "scripted/slow", status: "running", startedAt: T0 }
  const beforeStop = { ...doc, diagnostics: { ...doc.diagnostics, runs: [] }, incidents: [] }
  const app = renderSessionApp({
    directory: "/p",
    path: `/app/session/${SESSION}/run/run_one`,
    handler: (method, path) => {
      if (method === "POST") return { accepted: 0, rejected: 0 }
      if (path === base) return sessionInfo()
      if (path === `${base}/message`) return []
      if (path === `${base}/run`) return [stopped ? finishedRun(summary) : running]
      if (path === `${base}/incident`) return stopped ? read.incidents : []
      if (path === `${base}/export`) return stopped ? doc : beforeStop
      return []
    },
  })
  const headline = () => screen.getByTestId("panel-headline").textContent
  await waitFor(() => expect(headline()).toBe("This run is still running: nothing has stopped it."))

  // A reload stops the run: the page reads its runs again (as on `run.finished`).
  stopped = true
  await app.queryClient.invalidateQueries({ queryKey: queryKeys.runs("/p", SESSION) })
  await waitFor(() => expect(headline()).toContain("Reload project was clicked"))
  expect(headline()).not.toContain("it finished")
})
