/**
 * What a person meets around the panel: the in-app confirmation before an action that stops
 * runs, the config editor that will not overwrite an edit made on disk, plain words when the
 * server is down, session titles, Send/Stop, the run picker, the project picker, the keyboard
 * path to the banner, and the drawer's Escape, focus and refresh.
 */
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { expect, snap, test } from "./fixtures"
import {
  confirmStops,
  expectPlainWords,
  openPanelFromBanner,
  openProject,
  pressStop,
  RUN_TICK_MS,
  SLOW,
  startRun,
  ui,
} from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

test("confirmation: Close every project with a run going asks in the app, names the runs, and Cancel keeps them", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  const native: string[] = []
  page.on("dialog", (dialog) => {
    native.push(dialog.message())
    void dialog.dismiss()
  })
  await openProject(page, server.url, dir)
  await startRun(page)
  const button = page.getByTestId(ui.disposeAll)
  await button.click()
  const dialog = page.getByTestId("confirm-dialog")
  await expect(dialog).toBeVisible()
  await expect(dialog.getByTestId("confirm-text")).toHaveText("1 run in 1 directory will stop:")
  await expect(dialog.locator(`li[data-directory="${dir}"]`)).toHaveText(`${dir}: 1 run`)
  // Cancel has the focus: Enter on an unread dialog stops nothing.
  await expect(dialog.getByTestId("confirm-cancel")).toBeFocused()
  await snap(page, testInfo, "confirm-dispose-all")
  await page.keyboard.press("Escape")
  await expect(dialog).toHaveCount(0)
  await expect(button).toBeFocused()
  await expect(page.getByText("A run is in progress.")).toBeVisible()
  expect(native).toEqual([])

  // Accepted, it stops the run; with nothing running, no question at all.
  await button.click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  await expect(page.getByTestId(ui.banner)).toBeVisible()
  await page.getByTestId(ui.reload).click()
  await expect(page.getByTestId(ui.actionStatus)).toContainText("Reload project")
  await expect(page.getByTestId("confirm-dialog")).toHaveCount(0)
  expect(native).toEqual([])
})

test("config editor: an edit made on disk since the editor read the file is noticed and never overwritten silently", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  const file = path.join(dir, "opencode.json")
  await openProject(page, server.url, dir)
  const textarea = page.getByTestId(ui.configText)
  await expect(textarea).toHaveValue("{}")
  await textarea.fill(JSON.stringify({ theme: "dark" }, null, 2))

  // Another program writes the file while the user is editing.
  writeFileSync(file, `${JSON.stringify({ model: "scripted/slow" }, null, 2)}\n`)
  const notice = page.getByTestId("config-conflict")
  await expect(notice).toContainText("opencode.json changed on disk since you opened it")

  await page.getByTestId(ui.configSave).click()
  await expect(notice).toContainText("Your edit was not saved")
  expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ model: "scripted/slow" })
  await snap(page, testInfo, "config-conflict")

  // Load the file's version: the editor shows what is on disk, and a save goes through.
  await notice.getByRole("button", { name: "Load the file's version" }).click()
  await expect(textarea).toHaveValue(JSON.stringify({ model: "scripted/slow" }, null, 2))
  await expect(notice).toHaveCount(0)
  await textarea.fill(JSON.stringify({ model: "scripted/slow", theme: "dark" }, null, 2))
  await page.getByTestId(ui.configSave).click()
  await expect(page.getByText("Saved.")).toBeVisible()
  expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ model: "scripted/slow", theme: "dark" })

  // Or keep the edit and save over the file, knowingly.
  writeFileSync(file, `${JSON.stringify({ model: "scripted/quick" }, null, 2)}\n`)
  await textarea.fill(JSON.stringify({ theme: "light" }, null, 2))
  await page.getByTestId(ui.configSave).click()
  await expect(notice).toContainText("Your edit was not saved")
  await notice.getByRole("button", { name: "Save my edit anyway" }).click()
  await expect(page.getByText("Saved.")).toBeVisible()
  expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ theme: "light" })
})

test("server down: said plainly; no 'A run is in progress', no 'Failed to fetch'; Send and Stop wait", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await server.stop("SIGKILL")

  const down = page.getByTestId("server-down")
  await expect(down).toHaveText(
    "The server is not answering. Runs cannot be started or stopped, nor the project reloaded or closed, until it is back; this page reconnects by itself.",
  )
  await expect(page.getByText("A run is in progress.")).toHaveCount(0)
  await expect(page.getByTestId(ui.promptSend)).toBeDisabled()
  await expect(page.getByTestId(ui.stop)).toBeDisabled()
  // What cannot reach the server cannot be pressed.
  for (const id of [ui.reload, ui.dispose, ui.disposeAll, ui.gitInit]) await expect(page.getByTestId(id)).toBeDisabled()
  await snap(page, testInfo, "server-down")
  await expect(page.locator("body")).not.toContainText("Failed to fetch")
  await expect(page.locator("body")).not.toContainText(/\b(lc|req|act)_[A-Za-z0-9]{6,}/)

  // The session list, read while the server is down.
  await page.getByRole("link", { name: "Sessions" }).click()
  await expect(page.getByTestId(ui.newSession)).toBeVisible()
  await expect(page.getByTestId("server-down")).toBeVisible()
  await page.getByTestId(ui.newSession).click()
  await expect(page.getByRole("alert").filter({ hasText: "New session failed" })).toContainText(
    "the server is not answering",
  )
  await expect(page.locator("body")).not.toContainText("Failed to fetch")

  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  await expect(page.getByTestId("server-down")).toHaveCount(0)
})

test("sessions: titled by their first prompt; Stop only while a run is active, Send not while one is; the run picker shows times", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await page.getByTestId(ui.newSession).click()
  const send = page.getByTestId(ui.promptSend)
  const stop = page.getByTestId(ui.stop)
  await expect(send).toBeEnabled()
  await expect(stop).toBeDisabled()

  await page.getByTestId(ui.modelSelect).selectOption(SLOW)
  await page.getByTestId(ui.promptInput).fill("Tidy the parser module\nand add tests for it")
  await send.click()
  await expect(page.getByTestId(ui.partText).first()).toBeVisible()
  await expect(stop).toBeEnabled()
  await expect(send).toBeDisabled()
  await expect(page.getByRole("navigation", { name: "Breadcrumb" })).toContainText("Tidy the parser module")
  await pressStop(page)
  await expect(page.getByTestId(ui.banner)).toBeVisible()
  await expect(stop).toBeDisabled()
  await expect(send).toBeEnabled()

  // A second run, stopped too: the panel's run picker names runs by their start time.
  await page.getByTestId(ui.promptInput).fill("Try again")
  await send.click()
  await expect(stop).toBeEnabled()
  await pressStop(page)
  await expect(send).toBeEnabled()
  const panel = await openPanelFromBanner(page, "user_cancelled")
  const picker = panel.getByTestId("incident-select")
  await expect(picker.locator("option")).toHaveCount(2)
  for (const text of await picker.locator("option").allInnerTexts()) {
    expect(text).toMatch(/^Started \d\d:\d\d:\d\d: /)
    expect(text).not.toMatch(/run_/)
  }
  await snap(page, testInfo, "run-picker")
  await page.keyboard.press("Escape")

  // The list shows the first prompt's first line, not "New session".
  await page.getByRole("link", { name: "Sessions" }).click()
  const item = page.getByTestId(ui.sessionItem)
  await expect(item).toHaveCount(1)
  await expect(item.locator(".title")).toHaveText("Tidy the parser module")
  await expect(item.getByTestId("session-run-badge")).toHaveText("stopped by Stop")
  await expectPlainWords(page)
})

test("project picker: a directory that does not exist is refused in words", async ({ page, server, project }) => {
  const missing = path.join(project(), "no-such-dir")
  await page.goto(server.url + "/")
  await page.getByTestId(ui.projectDir).fill(missing)
  await page.getByTestId(ui.projectOpen).click()
  await expect(page.getByRole("alert")).toHaveText(`There is no directory at ${missing}. Check the path and try again.`)
  await expect(page.getByTestId(ui.projectDir)).toHaveAttribute("aria-invalid", "true")
  await expect(page.getByTestId(ui.newSession)).toHaveCount(0)
  // A file is not a project either.
  const file = path.join(project(), "a-file.txt")
  writeFileSync(file, "x")
  await page.getByTestId(ui.projectDir).fill(file)
  await page.getByTestId(ui.projectOpen).click()
  await expect(page.getByRole("alert")).toHaveText(`${file} is not a directory.`)
})

test("keyboard: the skip link moves focus to the page, and the banner is the next stop, not after every project action", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await pressStop(page)
  await expect(page.getByTestId(ui.banner)).toBeVisible()

  // From the top of a freshly loaded page.
  await page.reload()
  await expect(page.getByTestId(ui.banner)).toBeVisible()
  await page.keyboard.press("Tab")
  const skip = page.getByRole("link", { name: "Skip to content" })
  await expect(skip).toBeFocused()
  await expect(skip).toBeInViewport()
  await page.keyboard.press("Enter")
  await expect(page.locator("main#main")).toBeFocused()
  // Past the breadcrumb, the banner: none of the project actions in between.
  await page.keyboard.press("Tab")
  await expect(
    page.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: "Sessions" }),
  ).toBeFocused()
  await page.keyboard.press("Tab")
  await expect(page.getByTestId(ui.bannerButton)).toBeFocused()
  await page.keyboard.press("Enter")
  await expect(page.getByTestId(ui.panel)).toBeVisible()
  await expect(page.getByRole("heading", { name: "Why did this run stop?" })).toBeFocused()
})

test("panel: Escape closes it and focus returns to the banner button; a new run leaves it on its own run; the banner can be dismissed", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page)
  await pressStop(page)
  const panel = await openPanelFromBanner(page, "user_cancelled")
  await page.keyboard.press("Escape")
  await expect(panel).toHaveCount(0)
  await expect(page.getByTestId(ui.bannerButton)).toBeFocused()

  // A run started elsewhere (another client): the open panel explains its own run still, by its URL.
  await page.getByTestId(ui.bannerButton).click()
  await expect(panel.getByTestId(ui.panelVerdict)).toBeVisible()
  const first = await panel.getAttribute("data-run-id")
  const res = await server.fetch(`/session/${sessionId}/prompt`, {
    method: "POST",
    directory: dir,
    body: JSON.stringify({ text: "again", model: SLOW }),
  })
  expect(res.ok).toBe(true)
  await expect(page.getByTestId("run-history-row")).toHaveCount(2)
  await expect(panel).toHaveAttribute("data-run-id", first!)
  await page.keyboard.press("Escape")
  await expect(panel).toHaveCount(0)
  await expect(page.getByTestId(ui.banner)).toHaveCount(0)
  await expect(page.getByText("A run is in progress.")).toBeVisible()

  // That run stopped too: its banner, dismissed, stays gone; both runs keep their stop markers.
  await pressStop(page)
  await expect(page.getByTestId(ui.banner)).toBeVisible()
  await page.getByTestId("banner-dismiss").click()
  await expect(page.getByTestId(ui.banner)).toHaveCount(0)
  await expect(page.getByTestId("stop-marker")).toHaveCount(2)
  await expect(page.locator("main#main")).toBeFocused()
  await expect(page.getByTestId(ui.actionStatus)).toContainText("Stop: done")
  await expectPlainWords(page)
  // The marker still opens the panel.
  await page.getByTestId("stop-marker").last().getByRole("button").click()
  await expect(page.getByTestId(ui.panel).getByTestId(ui.panelVerdict)).toBeVisible()
  await snap(page, testInfo, "panel-from-marker")
})
