/**
 * Every run keeps its story: sessions with several runs, old and new. The panel explains the run
 * it names and no other; an earlier stopped run keeps its marker and its explanation after newer
 * runs (and a page reload); a resend is linked both ways; each explanation has a URL that survives
 * a reload and the back button; the drawer is modal and gives focus back to what opened it; a lost
 * run's headline says how far its output got.
 */
import type { Page } from "@playwright/test"
import { expect, snap, test } from "./fixtures"
import {
  confirmStops,
  downloadExport,
  openPanelFromBanner,
  openProject,
  pressStop,
  RUN_TICK_MS,
  SLOW,
  startRun,
  ui,
} from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

/** The last "step N" an assistant message of the transcript shows (the nth assistant message). */
async function lastStep(page: Page, nth: number): Promise<number> {
  const text = await page.locator('[data-testid="message"][data-role="assistant"]').nth(nth).innerText()
  const steps = [...text.matchAll(/Working on step (\d+) of/g)].map((match) => Number(match[1]))
  expect(steps.length).toBeGreaterThan(0)
  return steps.at(-1)!
}

/** Waits until the nth assistant message has shown at least `step` steps. */
async function untilStep(page: Page, nth: number, step: number): Promise<void> {
  await expect(page.locator('[data-testid="message"][data-role="assistant"]').nth(nth)).toContainText(
    `Working on step ${step} of`,
    { timeout: 30_000 },
  )
}

async function send(page: Page, text: string, model: string): Promise<void> {
  await page.getByTestId(ui.modelSelect).selectOption(model)
  await page.getByTestId(ui.promptInput).fill(text)
  await page.getByTestId(ui.promptSend).click()
}

const markerOf = (page: Page, runId: string) =>
  page.locator(`[data-testid="stop-marker"][data-run-id="${runId}"]`).getByRole("button")
const historyRow = (page: Page, runId: string) =>
  page.locator(`[data-testid="run-history-row"][data-run-id="${runId}"]`)

test("the panel never mixes two runs: each run's headline quotes its own last output, by marker and by picker", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await untilStep(page, 0, 2)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  await expect(page.getByTestId(ui.banner)).toHaveAttribute("data-classification", "local_instance_reload")
  const firstStep = await lastStep(page, 0)

  await send(page, "Once more", SLOW)
  await untilStep(page, 1, firstStep + 3)
  await page.getByTestId(ui.dispose).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  await expect(page.getByTestId(ui.banner)).toHaveAttribute("data-classification", "local_instance_dispose")
  const secondStep = await lastStep(page, 1)
  expect(secondStep).toBeGreaterThan(firstStep)

  const rows = page.getByTestId("run-history-row")
  await expect(rows).toHaveCount(2)
  const [newer, older] = [await rows.nth(0).getAttribute("data-run-id"), await rows.nth(1).getAttribute("data-run-id")]

  // The first run, from its own marker: its own output, never the later run's.
  await markerOf(page, older!).click()
  const panel = page.getByTestId(ui.panel)
  await expect(panel).toHaveAttribute("data-run-id", older!)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText(`Working on step ${firstStep} of`)
  await expect(panel.getByTestId(ui.panelHeadline)).not.toContainText(`step ${secondStep} of`)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText("Reload project")
  await snap(page, testInfo, "first-run-panel")

  // The picker moves to the other run: its headline, its output.
  await panel.getByTestId("incident-select").selectOption(newer!)
  await expect(panel).toHaveAttribute("data-run-id", newer!)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText(`Working on step ${secondStep} of`)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText("Close project")
  // Back to the first through the picker, in time order (oldest first).
  await expect(panel.getByTestId("incident-select").locator("option")).toHaveText([/^Started/, /^Started/])
  expect(
    await panel
      .getByTestId("incident-select")
      .locator("option")
      .evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value)),
  ).toEqual([older, newer])
  await panel.getByTestId("incident-select").selectOption(older!)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText(`Working on step ${firstStep} of`)
})

test("an earlier stopped run keeps its marker and its explanation after a newer run finishes, and after a page reload", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await pressStop(page)
  await expect(page.getByTestId(ui.banner)).toHaveAttribute("data-classification", "user_cancelled")
  const stopped = await page.getByTestId("stop-marker").getAttribute("data-run-id")

  await send(page, "A quick one", "scripted/quick")
  await expect(page.getByTestId("run-history-row")).toHaveCount(2)
  await expect(page.getByTestId("run-history-row").first()).toHaveAttribute("data-stopped", "false")
  await expect(page.getByTestId("run-history-ending").first()).toHaveText("Finished")
  // The banner speaks of the latest run only; the first run keeps its marker and its row.
  await expect(page.getByTestId(ui.banner)).toHaveCount(0)
  await expect(markerOf(page, stopped!)).toBeVisible()

  await page.reload()
  await expect(markerOf(page, stopped!)).toBeVisible()
  await expect(historyRow(page, stopped!)).toHaveAttribute("data-stopped", "true")
  await expect(historyRow(page, stopped!).getByTestId("run-history-ending")).toHaveText("Stopped by you (Stop)")
  await expect(historyRow(page, stopped!)).toContainText(/^\d\d:\d\d:\d\d · ran [\d.]+ (ms|s|min)/)
  await historyRow(page, stopped!).getByTestId("run-history-explain").click()
  const panel = page.getByTestId(ui.panel)
  await expect(panel).toHaveAttribute("data-run-id", stopped!)
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText("Stopped: you clicked Stop")
})

test("a resend is linked both ways: the old run says what became of it, the new one what it resent, and the export carries the link", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  let panel = await openPanelFromBanner(page, "local_instance_reload")
  const first = await panel.getAttribute("data-run-id")
  await panel.getByTestId("resend-button").click()
  await expect(panel).toHaveCount(0)
  await expect(page.getByText("A run is in progress.")).toBeVisible()
  await expect(page.getByTestId("run-history-row")).toHaveCount(2)
  const second = await page.getByTestId("run-history-row").first().getAttribute("data-run-id")
  await expect(page.getByTestId("run-history-row").first()).toContainText("a resend of the run started at")

  // The old run, while its resend runs.
  await markerOf(page, first!).click()
  panel = page.getByTestId(ui.panel)
  await expect(panel.getByTestId("resent-as")).toHaveText(/^Resent at \d\d:\d\d:\d\d → that run is still running\./)
  await page.keyboard.press("Escape")
  await pressStop(page)
  await markerOf(page, first!).click()
  await expect(panel.getByTestId("resent-as")).toHaveText(
    /^Resent at \d\d:\d\d:\d\d → that run did not finish either: .+\. Why\?$/,
  )
  await snap(page, testInfo, "resent-as")
  // To the resend's own explanation, which names the run it resent.
  await panel.getByTestId("resent-as").getByRole("button", { name: "Why?" }).click()
  await expect(panel).toHaveAttribute("data-run-id", second!)
  await expect(panel.getByTestId("resend-of")).toHaveText(
    /^A resend of the run stopped at \d\d:\d\d:\d\d\. Why did that run stop\?$/,
  )
  const doc = await downloadExport(page, panel)
  const runs = (doc as unknown as { diagnostics: { runs: { runId: string; resendOf?: string }[] } }).diagnostics.runs
  expect(runs.find((run) => run.runId === second)?.resendOf).toBe(first)
  const incidents = (
    doc as unknown as { incidents: { runId: string; resendOf?: string; resentAs?: { runId: string } }[] }
  ).incidents
  expect(incidents.find((chain) => chain.runId === first)?.resentAs?.runId).toBe(second)
  expect(incidents.find((chain) => chain.runId === second)?.resendOf).toBe(first)
})

test("deep links: a run's explanation has a URL that survives a reload and the back button, and Copy link copies it", async ({
  page,
  server,
  project,
  context,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url })
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page)
  await pressStop(page)
  const panel = await openPanelFromBanner(page, "user_cancelled")
  const runId = await panel.getAttribute("data-run-id")
  expect(new URL(page.url()).pathname).toBe(`/app/session/${sessionId}/run/${runId}`)

  await page.reload()
  await expect(page.getByTestId(ui.panel)).toHaveAttribute("data-run-id", runId!)
  await expect(page.getByTestId(ui.panelVerdict)).toBeVisible()
  await page.goBack()
  await expect(page.getByTestId(ui.panel)).toHaveCount(0)
  expect(new URL(page.url()).pathname).toBe(`/app/session/${sessionId}`)
  await page.goForward()
  await expect(page.getByTestId(ui.panel)).toHaveAttribute("data-run-id", runId!)

  await page.getByTestId("copy-link-button").click()
  await expect(page.getByTestId("copy-link-status")).toHaveText("Link copied.")
  const copied = await page.evaluate(() => navigator.clipboard.readText())
  expect(copied).toBe(`${server.url}/app/session/${sessionId}/run/${runId}`)

  // The copied link, opened in a new tab, shows the same run's explanation.
  const other = await context.newPage()
  await other.goto(copied)
  await expect(other.getByTestId(ui.panel)).toHaveAttribute("data-run-id", runId!)
  await other.close()
})

test("a run's link opened in a second tab while it runs: once this tab's reload stops it, that panel says why", async ({
  page,
  server,
  project,
  context,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page, SLOW, "alpha prompt")
  const runs = (await (await server.fetch(`/session/${sessionId}/run`, { directory: dir })).json()) as {
    runId: string
  }[]
  const other = await context.newPage()
  await other.goto(`${server.url}/app/session/${sessionId}/run/${runs[0]!.runId}`)
  const headline = other.getByTestId(ui.panel).getByTestId(ui.panelHeadline)
  await expect(headline).toHaveText("This run is still running: nothing has stopped it.")

  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  await expect(headline).toContainText("Reload project was clicked in another app window")
  await expect(headline).not.toContainText("it finished")
  await other.close()
})

test("the drawer is modal and Escape gives focus back to what opened it, the transcript's marker too, without scrolling", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await page.setViewportSize({ width: 1280, height: 420 })
  await openProject(page, server.url, dir)
  await startRun(page)
  await untilStep(page, 0, 8)
  await pressStop(page)
  await expect(page.getByTestId(ui.banner)).toBeVisible()

  // The marker sits below the fold: the page is scrolled to reach it.
  const marker = page.getByTestId("stop-marker").getByRole("button")
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
  await marker.focus()
  const before = await page.evaluate(() => window.scrollY)
  expect(before).toBeGreaterThan(0)
  await page.keyboard.press("Enter")
  const panel = page.getByTestId(ui.panel)
  await expect(panel.getByTestId(ui.panelVerdict)).toBeVisible()

  // Tab stays in the drawer: nothing behind it (Send, Reload, the marker) takes focus.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab")
    const inside = await page.evaluate(() => {
      const active = document.activeElement
      return !active || active === document.body || !!active.closest('[data-testid="incident-drawer"]')
    })
    expect(inside, `Tab ${i + 1} left the drawer`).toBe(true)
  }
  await expect(page.locator("#root")).toHaveAttribute("inert", "")

  await page.keyboard.press("Escape")
  await expect(panel).toHaveCount(0)
  await expect(marker).toBeFocused()
  expect(await page.evaluate(() => window.scrollY)).toBe(before)
  await expect(page.locator("#root")).not.toHaveAttribute("inert", "")
})

test("a lost run's headline says how far its output got, and its safe resend what it rests on", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await untilStep(page, 0, 8)
  await server.stop("SIGKILL")
  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  const panel = await openPanelFromBanner(page, "process_exit_without_finalizer")
  // The headline quotes the transcript's last line, which now shows what the server had stored
  // (the last parts shown live may not have been stored before the kill).
  const headline = panel.getByTestId(ui.panelHeadline)
  await expect
    .poll(async () => {
      const text = await page.locator('[data-testid="message"][data-role="assistant"]').first().innerText()
      const last = [...text.matchAll(/Working on step (\d+) of/g)].at(-1)?.[1]
      return (
        last !== undefined &&
        ((await headline.textContent()) ?? "").includes(`(its output had reached “Working on step ${last} of`)
      )
    })
    .toBe(true)
  const step = await lastStep(page, 0)
  // The heartbeat (every 5 s) came once, at the start: the stored output is the last evidence.
  const into = Number(
    /Last evidence at \d\d:\d\d:\d\d, ([\d.]+) s into the run/.exec((await headline.textContent()) ?? "")?.[1],
  )
  expect(into).toBeGreaterThanOrEqual(((step - 1) * Number(RUN_TICK_MS)) / 1000 - 0.5)
  await expect(panel.getByTestId(ui.retry)).toContainText("as far as was recorded before the server stopped")
})
