/**
 * The open panel, checked with axe in light and dark themes at 1280 px and 390 px (no serious or
 * critical violation), with a screenshot of each as a test artifact; below 600 px the event
 * history is the default view; an expanded history row and an expanded waterfall row are checked
 * the same way. And the waterfall in a real browser: a crash drawn hatched behind
 * a broken axis, redrawn when the window narrows, no two labels overlapping. The session's run
 * history too, light and dark.
 */
import AxeBuilder from "@axe-core/playwright"
import type { Locator, Page } from "@playwright/test"
import { expect, snap, test } from "./fixtures"
import { confirmStops, openPanelFromBanner, openProject, pressStop, RUN_TICK_MS, startRun, ui } from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

const WIDTHS = [1280, 390] as const
const THEMES = ["light", "dark"] as const

/** Pairs of labels (and break marks) in the drawing whose boxes intersect (by more than a pixel). */
async function overlappingLabels(svg: Locator): Promise<string[]> {
  return svg.evaluate((el) => {
    // Words, and the broken axis's "//" marks, which sit among the tick labels.
    const boxes = Array.from(el.querySelectorAll("text, .wf-break-mark"))
      .filter((node) => node.tagName !== "text" || (node.textContent ?? "").trim() !== "")
      .map((node) => ({
        text: node.tagName === "text" ? (node.textContent ?? "") : "//",
        box: node.getBoundingClientRect(),
      }))
    const out: string[] = []
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!.box
        const b = boxes[j]!.box
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left)
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top)
        if (w > 1 && h > 1) out.push(`"${boxes[i]!.text}" × "${boxes[j]!.text}"`)
      }
    }
    return out
  })
}

/** Serious or critical axe violations inside `scope` (the open panel's drawer unless named). */
async function seriousViolations(page: Page, scope = '[data-testid="incident-drawer"]'): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .include(scope)
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze()
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`,
    )
}

/** A run stopped by Reload project from the app, its panel open, at 1280 px. */
async function reloadedRunPanel(page: Page, url: string, dir: string): Promise<Locator> {
  await page.setViewportSize({ width: 1280, height: 900 })
  await openProject(page, url, dir)
  await startRun(page)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  return openPanelFromBanner(page, "local_instance_reload")
}

test("the open panel has no serious or critical accessibility violation, light and dark, at 1280 px and 390 px", async ({
  page,
  server,
  project,
}, testInfo) => {
  const panel = await reloadedRunPanel(page, server.url, project())

  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme })
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width < 600 ? 844 : 900 })
      const narrow = width < 600
      // Below 600 px the event history is what the panel shows first; the timeline is one tap away.
      await expect(panel.getByTestId("event-history")).toBeVisible()
      await expect(panel.getByTestId(ui.timeline)).toBeVisible({ visible: !narrow })
      if (narrow) await expect(panel.getByTestId("view-history")).toHaveAttribute("aria-pressed", "true")
      expect(await seriousViolations(page), `${theme} at ${width} px`).toEqual([])
      await snap(page, testInfo, `panel-${theme}-${width}`)
    }
  }
  // The timeline at 390 px, on request: still no serious violation.
  await panel.getByTestId("view-timeline").click()
  await expect(panel.getByTestId(ui.timeline)).toBeVisible()
  expect(await seriousViolations(page), "dark at 390 px, timeline").toEqual([])
  await snap(page, testInfo, "panel-dark-390-timeline")
})

test("an expanded history row and an expanded waterfall row have no serious or critical accessibility violation, light and dark", async ({
  page,
  server,
  project,
}, testInfo) => {
  const panel = await reloadedRunPanel(page, server.url, project())
  const toggle = panel
    .locator('[data-testid="history-item"][data-record-kind="lifecycle"]')
    .first()
    .getByTestId("history-toggle")
  await toggle.click()
  await expect(toggle).toHaveAttribute("aria-expanded", "true")
  await expect(panel.getByTestId("history-attributes")).toBeVisible()
  const request = panel.getByTestId(ui.timeline).locator('g.wf-row[data-kind="request"]')
  await request.click()
  await expect(request).toHaveAttribute("aria-expanded", "true")
  await expect(panel.getByTestId(ui.timeline).getByTestId("row-details")).toBeVisible()
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme })
    expect(await seriousViolations(page), `${theme}, a history row and a waterfall row expanded`).toEqual([])
    await snap(page, testInfo, `panel-expanded-${theme}`)
  }
})

test("waterfall: a crash is hatched behind a broken axis, redrawn when the window narrows, and no two labels overlap", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await page.setViewportSize({ width: 1280, height: 900 })
  await openProject(page, server.url, dir)
  await startRun(page)
  await server.stop("SIGKILL")
  // A quiet stretch long enough to break the axis: the run is lost for a few seconds.
  await page.waitForTimeout(2_500)
  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  const panel = await openPanelFromBanner(page, "process_exit_without_finalizer")
  const svg = panel.getByTestId(ui.timeline)

  await expect(svg.getByTestId("unknown-stretch")).toHaveCount(1)
  await expect(svg.getByTestId("axis-break")).toHaveCount(1)
  // The phrase where the stretch has room for it, else the word: how wide the stretch is depends on
  // how long the run lived before the kill (the row's label below says it all either way).
  await expect(svg.locator(".wf-unknown-label")).toHaveText(/^unknown( until restart)?$/)
  await expect(svg.locator('g.wf-row[data-kind="run"]')).toHaveAttribute(
    "aria-label",
    /last evidence at \+[\d.]+ s, then unknown for [\d.]+ s until the restart/,
  )
  expect(await overlappingLabels(svg)).toEqual([])
  // Words are filled, never outlined (a row's dashed box must not stroke its name).
  expect(
    await svg.evaluate((el) =>
      Array.from(el.querySelectorAll("text"))
        .filter((node) => getComputedStyle(node).stroke !== "none")
        .map((node) => node.textContent),
    ),
  ).toEqual([])
  const wide = Number(await svg.getAttribute("width"))
  await snap(page, testInfo, "waterfall-crash-1280")

  await page.setViewportSize({ width: 390, height: 844 })
  await panel.getByTestId("view-timeline").click()
  await expect.poll(async () => Number(await svg.getAttribute("width"))).toBeLessThan(wide)
  expect(Number(await svg.getAttribute("width"))).toBeLessThanOrEqual(390)
  await expect(svg.getByTestId("axis-break")).toHaveCount(1)
  expect(await overlappingLabels(svg)).toEqual([])
  await snap(page, testInfo, "waterfall-crash-390")
})

test("the run history has no serious or critical accessibility violation", async ({ page, server, project }) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await pressStop(page)
  await page.getByTestId(ui.modelSelect).selectOption("scripted/quick")
  await page.getByTestId(ui.promptInput).fill("A quick one")
  await page.getByTestId(ui.promptSend).click()
  await expect(page.getByTestId("run-history-row")).toHaveCount(2)
  for (const theme of THEMES) {
    await page.emulateMedia({ colorScheme: theme })
    expect(await seriousViolations(page, '[data-testid="run-history"]'), theme).toEqual([])
  }
})
