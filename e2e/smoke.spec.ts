/**
 * Smoke: the built app served by the real server runs one prompt end to end.
 * Open the app → set the project dir → new session → model scripted/quick → send a prompt
 * → the streamed answer appears, and the server agrees (session, messages, a completed run).
 */
import type { Locator, Page } from "@playwright/test"
import { expect, snap, test } from "./fixtures"

/** The app's data-testids this suite relies on (packages/app/src). */
export const ui = {
  projectDir: "project-dir-input",
  projectOpen: "project-open-button",
  newSession: "new-session-button",
  modelSelect: "model-select",
  promptInput: "prompt-textarea",
  promptSend: "send-button",
} as const

const ANSWER = "Hello from scripted/quick."

test.use({ scriptedTickMs: "50" })

async function setProjectDir(page: Page, dir: string) {
  const input = page.getByTestId(ui.projectDir)
  await input.fill(dir)
  await expect(input).toHaveValue(dir)
  await page.getByTestId(ui.projectOpen).click()
  await expect(page.getByTestId(ui.newSession)).toBeVisible()
}

/** Works for a <select> as well as a text/combobox input. */
async function chooseModel(select: Locator, model: string) {
  const tag = await select.evaluate((el) => el.tagName.toLowerCase())
  if (tag === "select") await select.selectOption(model)
  else {
    await select.fill(model)
    await select.press("Enter")
  }
}

test("a prompt with scripted/quick streams its answer into the session view", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()

  const health = await server.fetch("/health")
  expect(health.ok).toBe(true)

  await page.goto(server.url + "/")
  await setProjectDir(page, dir)

  await page.getByTestId(ui.newSession).click()
  await chooseModel(page.getByTestId(ui.modelSelect), "scripted/quick")

  const prompt = page.getByTestId(ui.promptInput)
  await prompt.fill("Say hello.")
  await page.getByTestId(ui.promptSend).click()

  await expect(page.getByText("Say hello.").first()).toBeVisible()
  await expect(page.getByText(ANSWER).first()).toBeVisible({ timeout: 20_000 })
  await snap(page, testInfo, "quick-answer")

  // The server saw the same thing, in the chosen directory.
  const sessions = (await (await server.fetch("/session", { directory: dir })).json()) as Array<{
    id: string
    directory: string
  }>
  expect(sessions).toHaveLength(1)
  const session = sessions[0]!
  expect(session.directory).toBe(dir)

  const messages = (await (await server.fetch(`/session/${session.id}/message`, { directory: dir })).json()) as Array<{
    info: { role: string; providerID?: string; modelID?: string }
    parts: Array<{ type: string; text?: string }>
  }>
  expect(messages.map((m) => m.info.role)).toEqual(["user", "assistant"])
  const assistant = messages[1]!
  expect(
    assistant.parts
      .filter((p) => p.type === "text")
      .map((p) => p.text)
      .join(""),
  ).toBe(ANSWER)

  await expect
    .poll(async () => {
      const runs = (await (await server.fetch(`/session/${session.id}/run`, { directory: dir })).json()) as Array<{
        status: string
        summary?: { classification?: string }
      }>
      return runs.map((r) => `${r.status}:${r.summary?.classification ?? ""}`)
    })
    .toEqual(["finished:completed"])
})
