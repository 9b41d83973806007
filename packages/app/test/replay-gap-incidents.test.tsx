/**
 * Events were lost (`server.replay_gap`) or the instance went away (`server.instance.disposed`):
 * the session page reads the messages and runs again, and a run that stopped meanwhile gets its
 * banner. Its explanation must be the server's chain, read again too, not the run summary's bare
 * origin: the chain is the one that knows the record is incomplete. The banner's words are
 * `bannerText`'s; these tests hold the page to them, whatever they say.
 */
import { screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { type IncidentChain, RunSummary } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { queryKeys } from "../src/context/queries.ts"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { exportFor, SESSION, T0 } from "./fixtures.ts"
import { renderSessionApp, sessionInfo } from "./session-app.tsx"

const base = `/session/${SESSION}`
const session = sessionInfo()

/**
 * Run one: a reload, diagnosed, known to the page from the start. Run two, lost during the gap: the
 * server crashed and its crash scan finished the run at the next start. The run's row alone cannot
 * tell the banner what its chain can (the crash evidence), so a page that keeps the incidents it
 * read before the gap words the banner differently.
 */
function scenario() {
  const one = exportFor("diagnosed")
  const readOne = readExport(one)
  if (!readOne.ok) throw new Error(readOne.error)
  const summaryOne = one.diagnostics.runs[0]!
  const two = RunSummary.parse({
    ...summaryOne,
    runId: "run_two",
    seq: 50,
    classification: "process_exit_without_finalizer",
    interrupt: undefined,
    startedAt: T0 + 10_000,
    finishedAt: T0 + 60_000,
    closeSite: "process_exit_without_finalizer",
    missing: ["run_summary"],
  })
  const both = exportFor("diagnosed")
  both.diagnostics.runs.push(two)
  both.diagnostics.crashes.push({
    ...exportFor("crash_evidence").diagnostics.crashes[0]!,
    runId: "run_two",
    startedAt: T0 + 10_000,
    lastHeartbeatAt: T0 + 12_000,
  })
  const readBoth = readExport(both)
  if (!readBoth.ok) throw new Error(readBoth.error)
  const chainOne = readOne.incidents.find((chain) => chain.runId === "run_one")!
  const chainTwo = readBoth.incidents.find((chain) => chain.runId === "run_two")!
  expect(chainTwo.verdict).toBe("crash_evidence")
  const runOne = {
    runId: "run_one",
    sessionId: SESSION,
    model: "scripted/slow",
    status: "finished",
    startedAt: T0,
    summary: summaryOne,
  }
  const runTwo = {
    runId: "run_two",
    sessionId: SESSION,
    model: "scripted/slow",
    status: "finished",
    startedAt: T0 + 10_000,
    summary: two,
  }
  const words = (summary: RunSummary, incident: IncidentChain | undefined) =>
    bannerText({ classification: summary.classification, summary, incident, isOwnAction: () => false })
  return { summaryOne, two, chainOne, chainTwo, readOne, readBoth, runOne, runTwo, words }
}

const incidentReads = (app: ReturnType<typeof renderSessionApp>) =>
  app.calls.filter((call) => call.method === "GET" && call.path.endsWith("/incident")).length
const bannerShown = () => screen.getByTestId("suspended-banner-text").textContent

describe("a replay gap or a disposed instance reads the incidents again", () => {
  for (const gapEvent of [
    { type: "server.replay_gap", properties: { reason: "overrun", lastEventId: "41" } },
    { type: "server.instance.disposed", properties: {} },
  ]) {
    for (const firstRead of ["answered", "still on its way"] as const) {
      it(`${gapEvent.type}, the first read of the incidents ${firstRead}: a run that stopped meanwhile is explained by its re-read chain`, async () => {
        const s = scenario()
        const expected = s.words(s.two, s.chainTwo)
        // The summary alone says less than the chain: were the page to keep the old list, the banner would differ.
        expect(expected).not.toBe(s.words(s.two, undefined))
        let afterGap = false
        const app = renderSessionApp({
          directory: "/p",
          path: `/app/session/${SESSION}`,
          handler: (method, path) => {
            if (method === "POST") return { accepted: 0, rejected: 0 }
            if (path === base) return session
            if (path === `${base}/message`) return []
            if (path === `${base}/run`) return afterGap ? [s.runOne, s.runTwo] : [s.runOne]
            if (path === `${base}/incident`) return afterGap ? s.readBoth.incidents : s.readOne.incidents
            return []
          },
        })
        await waitFor(() => expect(incidentReads(app)).toBe(1))
        // Answered: the page holds the list read before the gap. Still on its way: the gap comes before its answer.
        const incidents = () => app.queryClient.getQueryState(queryKeys.incidents("/p", SESSION))
        if (firstRead === "answered") {
          await waitFor(() => expect(incidents()).toMatchObject({ status: "success", fetchStatus: "idle" }))
          expect(bannerShown()).toBe(s.words(s.summaryOne, s.chainOne))
        } else expect(incidents()?.fetchStatus).toBe("fetching")

        // The stream reconnects; what was missed is not replayed, and run two stopped meanwhile.
        afterGap = true
        app.hub.emit(gapEvent as never)
        await waitFor(() => expect(screen.getAllByTestId("run-history-row").length).toBe(2))
        await waitFor(() => expect(incidentReads(app)).toBeGreaterThan(1))
        await waitFor(() => expect(bannerShown()).toBe(expected))
        // And it stays so once every read has settled.
        await new Promise((resolve) => setTimeout(resolve, 100))
        expect(bannerShown()).toBe(expected)
      })
    }
  }

  it("coming back to the page soon after leaving it reads the incidents again, like the runs", async () => {
    const s = scenario()
    let stopped = false
    const app = renderSessionApp({
      directory: "/p",
      path: `/app/session/${SESSION}`,
      handler: (method, path) => {
        if (method === "POST") return { accepted: 0, rejected: 0 }
        if (path === base) return session
        if (path === `${base}/message`) return []
        if (path === `${base}/run`) return stopped ? [s.runOne, s.runTwo] : [s.runOne]
        if (path === `${base}/incident`) return stopped ? s.readBoth.incidents : s.readOne.incidents
        return []
      },
    })
    const incidents = () => app.queryClient.getQueryState(queryKeys.incidents("/p", SESSION))
    await waitFor(() => expect(incidents()).toMatchObject({ status: "success", fetchStatus: "idle" }))
    screen.getByText("Sessions").click()
    await screen.findByTestId("sessions-page")
    // Run two stops while the page is closed (no events reach it); the user comes back within the lists' stale time.
    stopped = true
    window.history.back()
    await waitFor(() => expect(screen.getAllByTestId("run-history-row").length).toBe(2))
    await waitFor(() => expect(incidentReads(app)).toBe(2))
    await waitFor(() => expect(bannerShown()).toBe(s.words(s.two, s.chainTwo)))
  })

  it("a chain read after a run.finished event replaces the event's own (the server's record is newer)", async () => {
    const s = scenario()
    // What the event carried: the chain as the run ended, before the server's record was complete.
    const early: IncidentChain = { ...s.chainTwo, verdict: "missing_provenance", missing: ["lifecycle_action"] }
    expect(s.words(s.two, early)).not.toBe(s.words(s.two, s.chainTwo))
    let stopped = false
    let answerIncidents!: () => void
    const app = renderSessionApp({
      directory: "/p",
      path: `/app/session/${SESSION}`,
      handler: async (method, path) => {
        if (method === "POST") return { accepted: 0, rejected: 0 }
        if (path === base) return session
        if (path === `${base}/message`) return []
        if (path === `${base}/run`) return stopped ? [s.runOne, s.runTwo] : [s.runOne]
        if (path === `${base}/incident`) {
          if (!stopped) return s.readOne.incidents
          await new Promise<void>((resolve) => (answerIncidents = resolve))
          return s.readBoth.incidents
        }
        return []
      },
    })
    await waitFor(() => expect(bannerShown()).toBe(s.words(s.summaryOne, s.chainOne)))
    stopped = true
    app.hub.emit({ type: "run.finished", properties: { summary: s.two, incident: early } } as never)
    // Until the server answers, the event's chain is all there is.
    await waitFor(() => expect(bannerShown()).toBe(s.words(s.two, early)))
    await waitFor(() => expect(incidentReads(app)).toBe(2))
    answerIncidents()
    await waitFor(() => expect(bannerShown()).toBe(s.words(s.two, s.chainTwo)))
  })
})
