/**
 * The small things a person notices: the drawer at phone width with a classic scrollbar, the app
 * while the server is down and after it is back, one word per operation, the model picker across
 * a reload, and a sign-in page that logs no console error.
 */
import { expect, test } from "./fixtures"
import { openPanelFromBanner, openProject, pressStop, RUN_TICK_MS, SLOW, startRun, ui } from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

test("drawer at 390 px with a classic scrollbar: inside the viewport, and the heading's focus ring is not clipped", async ({
  playwright,
  launchOptions,
  server,
  project,
}) => {
  // Headless Chromium hides scrollbars; without that switch it draws classic ones that take 15 px
  // of the layout, as a desktop without overlay scrollbars does.
  const browser = await playwright.chromium.launch({ ...launchOptions, ignoreDefaultArgs: ["--hide-scrollbars"] })
  const page = await browser.newPage({ viewport: { width: 390, height: 800 } })
  try {
    await openProject(page, server.url, project())
    await startRun(page)
    await pressStop(page)
    // A page longer than the window, as a long transcript is (not `overflow: scroll` on the root,
    // which makes 100vw leave the scrollbar out and would hide the fault).
    await page.addStyleTag({ content: "main { min-height: 200vh }" })
    expect(await page.evaluate(() => window.innerWidth - document.documentElement.clientWidth)).toBe(15)
    // From the keyboard, so the heading that takes the focus shows its focus ring.
    await expect(page.getByTestId(ui.banner)).toBeVisible()
    await page.getByTestId(ui.bannerButton).focus()
    await page.keyboard.press("Enter")
    const heading = page.getByTestId(ui.panel).getByRole("heading", { name: "Why did this run stop?" })
    await expect(heading).toBeFocused()
    expect(await heading.evaluate((el) => el.matches(":focus-visible"))).toBe(true)
    const geometry = await page.evaluate(() => {
      const drawer = document.querySelector<HTMLElement>('[data-testid="incident-drawer"]')!.getBoundingClientRect()
      const title = document.getElementById("incident-panel-title")!
      const style = getComputedStyle(title)
      const ring = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset)
      const box = title.getBoundingClientRect()
      return {
        drawerLeft: drawer.left,
        drawerRight: drawer.right,
        viewport: document.documentElement.clientWidth,
        ringLeft: box.left - ring,
        ring,
      }
    })
    expect(geometry.drawerLeft).toBeGreaterThanOrEqual(0)
    expect(geometry.drawerRight).toBeLessThanOrEqual(geometry.viewport)
    expect(geometry.ring).toBeGreaterThan(0)
    expect(geometry.ringLeft).toBeGreaterThanOrEqual(geometry.drawerLeft)
  } finally {
    await browser.close()
  }
})

test("server down: project actions are disabled, the transcript stays, and failure notices clear when the server is back", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page, "scripted/quick", "Say hello.", { waitRunning: false })
  await expect(page.getByText("Hello from scripted/quick.").first()).toBeVisible()
  const sessionUrl = page.url()
  const actionButtons = [ui.reload, ui.dispose, ui.disposeAll, ui.gitInit]

  await server.stop("SIGKILL")
  await expect(page.getByTestId("server-down")).toBeVisible()
  for (const id of actionButtons) await expect(page.getByTestId(id)).toBeDisabled()

  // Back to the session while the server is down: its messages cannot be read again, and the
  // transcript already shown stays, with a small notice instead of an error in its place.
  await page.getByRole("link", { name: "Sessions" }).click()
  await expect(page.getByTestId(ui.newSession)).toBeVisible()
  await page.goBack()
  await expect(page).toHaveURL(sessionUrl)
  await expect(page.getByTestId("messages-stale")).toBeVisible()
  await expect(page.getByText("Messages could not be loaded")).toHaveCount(0)
  await expect(page.getByText("Hello from scripted/quick.").first()).toBeVisible()

  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  await expect(page.getByTestId("server-down")).toHaveCount(0)
  for (const id of actionButtons) await expect(page.getByTestId(id)).toBeEnabled()

  // A Reload and a Send the server never answered (the connection refused) leave failure notices…
  const refused = (url: URL) => url.pathname.endsWith("/instance/reload") || url.pathname.endsWith("/prompt")
  await page.route(refused, (route) => route.abort("connectionrefused"))
  await page.getByTestId(ui.reload).click()
  const status = page.getByTestId(ui.actionStatus)
  await expect(status).toContainText("Reload project failed: the server is not answering")
  await page.getByTestId(ui.promptInput).fill("Again")
  await page.getByTestId(ui.promptSend).click()
  const sendFailed = page.getByRole("alert").filter({ hasText: "Send failed" })
  await expect(sendFailed).toContainText("the server is not answering")
  await page.unroute(refused)

  // …that go once the server has been away and answers again.
  await server.stop("SIGKILL")
  await expect(page.getByTestId("server-down")).toBeVisible()
  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })
  await expect(status).not.toContainText("failed")
  await expect(sendFailed).toHaveCount(0)
})

test("one word per operation: Close project says project close everywhere, and a confirmation for one run says the run", async ({
  page,
  server,
  project,
}) => {
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page)
  await page.getByTestId(ui.dispose).click()
  const dialog = page.getByTestId("confirm-dialog")
  await expect(dialog.getByTestId("confirm-accept")).toHaveText("Close project and stop the run")
  await dialog.getByTestId("confirm-accept").click()

  const panel = await openPanelFromBanner(page, "local_instance_dispose")
  await expect(page.getByTestId(ui.bannerText)).toHaveText(
    "This run was stopped by a project close you requested (Close project).",
  )
  await expect(page.getByTestId("stop-marker")).toHaveText("Stopped here: project close")
  await expect(panel.getByTestId(ui.panelHeadline)).toContainText("Stopped: you clicked Close project")
  const words = await page.locator("body").evaluate((el) => (el as HTMLElement).innerText)
  expect(words).not.toMatch(/dispos/i)
  await page.keyboard.press("Escape")

  // Saving the config with one run going: the button names the one run.
  await page.getByTestId(ui.promptInput).fill("Once more")
  await page.getByTestId(ui.promptSend).click()
  await expect(page.getByText("A run is in progress.")).toBeVisible()
  await page.getByRole("link", { name: "Sessions" }).click()
  await expect(page.locator(`[data-testid="${ui.sessionItem}"][data-session-id="${sessionId}"]`)).toBeVisible()
  const textarea = page.getByTestId(ui.configText)
  await expect(textarea).toHaveValue("{}")
  await textarea.fill(JSON.stringify({ model: "scripted/quick" }, null, 2))
  await page.getByTestId(ui.configSave).click()
  await expect(dialog.getByTestId("confirm-accept")).toHaveText("Save and stop the run")
  await dialog.getByTestId("confirm-cancel").click()
})

test("the model picker keeps its choice over a page reload", async ({ page, server, project }) => {
  await openProject(page, server.url, project())
  await page.getByTestId(ui.newSession).click()
  await page.waitForURL(/\/app\/session\//)
  const select = page.getByTestId(ui.modelSelect)
  await select.selectOption(SLOW)
  await page.reload()
  await expect(select).toHaveValue(SLOW)

  // A model of another provider, typed in, is kept as well.
  await select.selectOption("other")
  await page.getByTestId("model-custom-input").fill("openai/gpt-4o-mini")
  await page.reload()
  await expect(select).toHaveValue("other")
  await expect(page.getByTestId("model-custom-input")).toHaveValue("openai/gpt-4o-mini")
})

test.describe("with a token", () => {
  test.use({ serverEnv: { OPENCODE_SERVER_TOKEN: "tok_e2e_" + "p0Li".repeat(8) } })

  test("the sign-in page logs no console error", async ({ page, server }) => {
    const errors: string[] = []
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(`${message.text()} ${message.location().url}`)
    })
    page.on("pageerror", (error) => errors.push(error.message))
    await page.goto(server.url + "/")
    await expect(page.getByTestId("login-form")).toBeVisible()
    // Whatever the page loads after itself (its icon) has been asked for and answered.
    await page.waitForLoadState("networkidle")
    expect(errors).toEqual([])
  })
})
