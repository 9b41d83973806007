/**
 * Every run keeps its story, in a real browser: the event history's rows expand in place to their
 * records' attributes, filter by kind, sort either way and link to the waterfall both ways; the
 * waterfall's rows expand in place to their details (a click or Enter), a route label cut to fit
 * reads in full on focus, and "Cause path only" collapses the drawing to the path from the cause
 * to the stop.
 */
import type { Locator, Page } from "@playwright/test"
import { expect, snap, test } from "./fixtures"
import { confirmStops, openPanelFromBanner, openProject, RUN_TICK_MS, startRun, ui } from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

const PROMPT = "Work slowly, please."

/** A run stopped by the app's Reload project, and its panel open at 1280 px. */
async function reloadedRun(page: Page, baseUrl: string, dir: string): Promise<{ panel: Locator; lifecycleId: string }> {
  await page.setViewportSize({ width: 1280, height: 900 })
  await openProject(page, baseUrl, dir)
  await startRun(page, undefined, PROMPT)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  const panel = await openPanelFromBanner(page, "local_instance_reload")
  const lifecycleId = (await panel.getAttribute("data-lifecycle-ids"))!
  expect(lifecycleId).toMatch(/^lc_/)
  return { panel, lifecycleId }
}

test("event history: a row expands in place to its record's attributes; rows filter by kind, sort either way, and link to the waterfall both ways", async ({
  page,
  server,
  project,
}, testInfo) => {
  const { panel, lifecycleId } = await reloadedRun(page, server.url, project())
  const items = panel.getByTestId("history-item")
  const close = panel.locator('[data-testid="history-item"][data-record-kind="lifecycle"]').first()
  const toggle = close.getByTestId("history-toggle")

  // Expands in place from the keyboard: every attribute of the close's record, ids in monospace.
  await expect(toggle).toHaveAttribute("aria-expanded", "false")
  await expect(panel.getByTestId("history-attributes")).toHaveCount(0)
  await toggle.focus()
  await page.keyboard.press("Enter")
  await expect(toggle).toHaveAttribute("aria-expanded", "true")
  const attributes = close.getByTestId("history-attributes")
  await expect(attributes).toBeVisible()
  const pairs = await attributes.evaluate((el) =>
    Array.from(el.querySelectorAll("dt")).map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]),
  )
  expect(pairs).toContainEqual(["lifecycleId", lifecycleId])
  expect(pairs).toContainEqual(["origin.request.requestId", expect.stringMatching(/^req_/)])
  expect(await attributes.evaluate((el) => getComputedStyle(el).fontFamily)).toMatch(/mono/i)
  // Allow-listed records only: the prompt the user typed is in no attribute.
  await expect(attributes).not.toContainText(PROMPT)
  await snap(page, testInfo, "history-expanded")
  await page.keyboard.press("Enter")
  await expect(toggle).toHaveAttribute("aria-expanded", "false")
  await expect(panel.getByTestId("history-attributes")).toHaveCount(0)

  // Filters: a labelled group of toggle buttons.
  const filters = panel.getByRole("group", { name: "Show events from" })
  const lifecycle = filters.getByRole("button", { name: /Project lifecycle/ })
  const all = await items.count()
  const closes = await panel.locator('[data-testid="history-item"][data-record-kind="lifecycle"]').count()
  expect(closes).toBeGreaterThan(0)
  await lifecycle.click()
  await expect(lifecycle).toHaveAttribute("aria-pressed", "false")
  await expect(panel.locator('[data-testid="history-item"][data-record-kind="lifecycle"]')).toHaveCount(0)
  await expect(items).toHaveCount(all - closes)
  await lifecycle.click()
  await expect(items).toHaveCount(all)

  // Sort: newest first, each event keeping its number.
  const numbers = () => items.locator(".event-n").allTextContents()
  const oldest = await items.locator(".event-words").allTextContents()
  expect(await numbers()).toEqual(oldest.map((_, i) => String(i + 1)))
  await panel.getByRole("group", { name: "Order" }).getByRole("button", { name: "Newest first" }).click()
  await expect(items.first().locator(".event-n")).toHaveText(String(all))
  expect(await items.locator(".event-words").allTextContents()).toEqual([...oldest].reverse())
  expect(await numbers()).toEqual(oldest.map((_, i) => String(all - i)))

  // Pointing at a history row marks its waterfall row; pointing at a waterfall row marks its history rows.
  const svg = panel.getByTestId(ui.timeline)
  const closeRow = svg.locator(`g.wf-row[data-row="lc:${lifecycleId}"]`)
  await expect(closeRow).not.toHaveClass(/wf-linked/)
  await close.hover()
  await expect(closeRow).toHaveClass(/wf-linked/)
  await expect(svg.locator("g.wf-row.wf-linked")).toHaveCount(1)
  await toggle.focus()
  await expect(closeRow).toHaveClass(/wf-linked/)
  const runRow = svg.locator('g.wf-row[data-kind="run"]')
  await runRow.hover()
  await expect(closeRow).not.toHaveClass(/wf-linked/)
  const linked = panel.locator('[data-testid="history-item"][data-linked="true"]')
  await expect(linked.first()).toBeVisible()
  expect(await linked.evaluateAll((els) => [...new Set(els.map((el) => el.getAttribute("data-record-kind")))])).toEqual(
    ["run"],
  )
  await expect(linked).toHaveCount(await panel.locator('[data-testid="history-item"][data-record-kind="run"]').count())
  await snap(page, testInfo, "history-linked")
})

test("waterfall: a row expands in place on a click or Enter, and a route label cut to fit reads in full on focus", async ({
  page,
  server,
  project,
}, testInfo) => {
  const { panel, lifecycleId } = await reloadedRun(page, server.url, project())
  const svg = panel.getByTestId(ui.timeline)
  const request = svg.locator('g.wf-row[data-kind="request"]')
  const close = svg.locator(`g.wf-row[data-row="lc:${lifecycleId}"]`)

  // The route label is cut to fit its column; focused, it is drawn whole, and it is the row's name.
  await expect(request.locator("text.wf-name")).toHaveText(/^Request from the app: POST \/.*…$/)
  await expect(request).toHaveAttribute("aria-label", /^Request from the app: POST \/instance\/reload, at \+/)
  await expect(svg.getByTestId("full-label")).toHaveCount(0)
  await request.focus()
  const full = svg.getByTestId("full-label")
  await expect(full).toHaveText("Request from the app: POST /instance/reload")
  const [plate, drawing] = await Promise.all([full.boundingBox(), svg.boundingBox()])
  expect(plate!.x + plate!.width).toBeLessThanOrEqual(drawing!.x + drawing!.width)
  await snap(page, testInfo, "waterfall-full-label")

  // Enter expands the focused row's details under it; the rows below move down; the focus stays.
  const top = async (row: Locator) => Number(await row.locator(".wf-row-bg").getAttribute("y"))
  const before = await top(close)
  await expect(request).toHaveAttribute("aria-expanded", "false")
  await page.keyboard.press("Enter")
  await expect(request).toHaveAttribute("aria-expanded", "true")
  const details = svg.locator('[data-testid="row-details"][data-row^="req:"]')
  await expect(details).toBeVisible()
  await expect(details).toContainText("Request from the app: POST /instance/reload")
  await expect(details).toContainText(/req_[A-Za-z0-9_-]+/)
  await expect(request).toBeFocused()
  const height = Number(await details.locator("rect").getAttribute("height"))
  expect(height).toBeGreaterThan(0)
  expect(await top(close)).toBe(before + height)
  await snap(page, testInfo, "waterfall-expanded")
  await page.keyboard.press("Enter")
  await expect(details).toHaveCount(0)

  // A click does the same.
  await close.click()
  await expect(close).toHaveAttribute("aria-expanded", "true")
  await expect(svg.locator('[data-testid="row-details"]')).toContainText(lifecycleId)
  await close.click()
  await expect(svg.locator('[data-testid="row-details"]')).toHaveCount(0)
})

test("waterfall: 'Cause path only' hides the rows off the path from the cause to the stop", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await page.setViewportSize({ width: 1280, height: 900 })
  await openProject(page, server.url, dir)
  await startRun(page)
  await server.stop("SIGKILL")
  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  const panel = await openPanelFromBanner(page, "process_exit_without_finalizer")
  const svg = panel.getByTestId(ui.timeline)
  const rows = svg.locator("g.wf-row")
  // The restart that found the run is its own node, not on any path from a cause.
  await expect(svg.locator('g.wf-row[data-kind="restart"]')).toHaveCount(1)
  const all = await rows.count()
  const toggle = panel.getByTestId("cause-path-toggle")
  await expect(toggle).toHaveAttribute("aria-pressed", "false")
  await toggle.click()
  await expect(toggle).toHaveAttribute("aria-pressed", "true")
  await expect(svg.locator('g.wf-row[data-kind="restart"]')).toHaveCount(0)
  await expect(rows).toHaveCount(all - 1)
  await expect(svg.locator('g.wf-row[data-kind="run"]')).toHaveCount(1)
  await expect(panel.getByTestId("cause-path-hidden")).toHaveText("1 step off the path is hidden.")
  await snap(page, testInfo, "waterfall-cause-path")
  await toggle.click()
  await expect(rows).toHaveCount(all)
})
