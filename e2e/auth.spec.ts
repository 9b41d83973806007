/**
 * The token in a real browser (Chromium), with `OPENCODE_SERVER_TOKEN` set:
 *  - the one-time sign-in link `serve` prints signs the browser in: it carries a code, never the
 *    token; the code leaves the address bar, works once and is useless afterwards; no page or
 *    script ever holds the token, and an HttpOnly, SameSite=Strict cookie (not the token)
 *    carries the app's requests and its event stream, under `script-src 'self'` with no
 *    violation;
 *  - a browser without it gets a small login page that asks for it;
 *  - a page on another loopback port (same-site: a site ignores the port, so the Strict cookie
 *    rides along) can neither use the signed-in browser nor frame the app.
 */
import { createServer, type Server as HttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { expect, snap, test } from "./fixtures"
import { openProject, ui } from "./helpers"

const TOKEN = "tok_e2e_" + "k9Rm".repeat(8)

test.use({ serverEnv: { OPENCODE_SERVER_TOKEN: TOKEN }, scriptedTickMs: "20" })

/** The sign-in link `serve` printed (it follows the listening line, maybe in a later chunk). */
async function printedUrl(server: { stdout(): string }): Promise<string> {
  await expect.poll(() => server.stdout()).toContain("#code=")
  const lines = server
    .stdout()
    .split("\n")
    .filter((line) => line.includes("#code="))
  expect(lines).toHaveLength(1)
  return /(http:\/\/\S+#code=\S+)/.exec(lines[0]!)![1]!
}

const bearer = { authorization: `Bearer ${TOKEN}` }

async function refusedCounts(server: {
  fetch(path: string, init?: RequestInit): Promise<Response>
}): Promise<{ host: number; origin: number; auth: number }> {
  const health = await server.fetch("/health", { headers: bearer })
  return ((await health.json()) as { refused: { host: number; origin: number; auth: number } }).refused
}

test("the printed link signs the browser in once; the token is never in a URL, the address bar, a page or a script, and the app works on its cookie under script-src 'self'", async ({
  page,
  context,
  browser,
  server,
  project,
}, testInfo) => {
  const url = await printedUrl(server)
  expect(url).toMatch(new RegExp(`^${server.url}/login#code=[A-Za-z0-9_-]{20,}$`))
  expect(server.stdout()).not.toContain(TOKEN)

  // Served without the token, the page is the login page and carries no token.
  const anonymous = await fetch(server.url + "/")
  expect(anonymous.status).toBe(200)
  expect(await anonymous.text()).not.toContain(TOKEN)

  // Every Content-Security-Policy violation is recorded; the login page and the app must cause none.
  await page.addInitScript(() => {
    const seen: string[] = ((window as unknown as { cspViolations: string[] }).cspViolations = [])
    document.addEventListener("securitypolicyviolation", (event) =>
      seen.push(`${event.violatedDirective} ${event.blockedURI}`),
    )
  })
  const violations = () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)
  await page.goto(url)
  await expect(page.getByTestId(ui.projectDir)).toBeVisible()
  expect(page.url()).toBe(server.url + "/")
  expect(await page.evaluate(() => document.cookie)).toBe("")
  expect(await page.content()).not.toContain(TOKEN)
  expect(
    await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage })),
  ).not.toContain(TOKEN)

  const cookies = await context.cookies(server.url)
  expect(cookies).toHaveLength(1)
  expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" })
  expect(cookies[0]!.value).not.toContain(TOKEN)

  // The app's requests and its event stream ride on the cookie.
  const dir = project()
  await openProject(page, server.url, dir)
  await page.getByTestId(ui.newSession).click()
  await page.getByTestId(ui.modelSelect).selectOption("scripted/quick")
  await page.getByTestId(ui.promptInput).fill("Say hello.")
  await page.getByTestId(ui.promptSend).click()
  await expect(page.getByText("Hello from scripted/quick.").first()).toBeVisible({ timeout: 20_000 })
  expect(page.url()).not.toContain(TOKEN)
  expect(await violations()).toEqual([])
  // The control: the policy is in force, so a script put into the page does not run.
  await page.evaluate(() => {
    const script = document.createElement("script")
    script.textContent = "document.title = 'injected'"
    document.body.append(script)
  })
  await expect.poll(violations).toEqual([expect.stringMatching(/^script-src/)])
  expect(await page.title()).not.toBe("injected")
  await snap(page, testInfo, "signed-in-by-printed-link")

  // The link is spent: opened again (from the history, or another browser) it signs nothing in.
  const replay = await browser.newContext()
  try {
    const again = await replay.newPage()
    await again.goto(url)
    await expect(again.getByRole("alert")).toContainText("has been used or has expired")
    await expect(again.getByTestId("login-form")).toBeVisible()
    expect(await replay.cookies(server.url)).toHaveLength(0)
    expect(again.url()).not.toContain("#code=")
  } finally {
    await replay.close()
  }
})

test("a browser without the token gets a small login page that asks for it", async ({ page, server }, testInfo) => {
  const before = await refusedCounts(server)
  await page.goto(server.url + "/")
  await expect(page.getByTestId("login-form")).toBeVisible()
  expect(await page.content()).not.toContain(TOKEN)
  await snap(page, testInfo, "login-page")

  await page.getByTestId("login-token").fill("not-the-token")
  await page.getByTestId("login-submit").click()
  await expect(page.getByRole("alert")).toHaveText("That token is not right.")

  await page.getByTestId("login-token").fill(TOKEN)
  await page.getByTestId("login-submit").click()
  await expect(page.getByTestId(ui.projectDir)).toBeVisible()
  expect(page.url()).toBe(server.url + "/")
  // The first visit and the wrong token were refusals, and counted.
  expect((await refusedCounts(server)).auth).toBeGreaterThanOrEqual(before.auth + 2)
})

test("a page on another loopback port can neither use the signed-in browser nor frame the app", async ({
  page,
  server,
  project,
}, testInfo) => {
  await page.goto(await printedUrl(server))
  await expect(page.getByTestId(ui.projectDir)).toBeVisible()
  const before = await refusedCounts(server)

  const dir = encodeURIComponent(project())
  const attackerPage = `<!doctype html><title>other port</title>
<iframe id="frame" src="${server.url}/" width="600" height="300"></iframe>
<img src="${server.url}/project/current?directory=${dir}">
<form id="dispose" method="post" action="${server.url}/global/dispose"></form>
<script>
fetch("${server.url}/session?directory=${dir}", { mode: "no-cors", credentials: "include" }).finally(() => (document.title = "sent"))
</script>`
  const other: HttpServer = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end(attackerPage),
  )
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve))
  try {
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`
    await page.goto(otherUrl)
    await expect(page).toHaveTitle("sent")
    // The frame shows no app.
    const frame = page.frames().find((f) => f !== page.mainFrame())
    expect(frame).toBeDefined()
    await expect(frame!.getByTestId(ui.projectDir)).toHaveCount(0)
    await expect(frame!.getByTestId("login-form")).toHaveCount(0)
    await snap(page, testInfo, "other-port-page")
    // The frame, the image and the fetch were all refused as not this server's origin.
    await expect.poll(async () => (await refusedCounts(server)).origin).toBeGreaterThanOrEqual(before.origin + 3)

    // A form POST from that page is refused too.
    await page.locator("#dispose").evaluate((form: HTMLFormElement) => form.submit())
    await expect(page.locator("body")).toContainText("forbidden_origin")
    expect((await refusedCounts(server)).origin).toBeGreaterThanOrEqual(before.origin + 4)
  } finally {
    await new Promise((resolve) => other.close(resolve))
  }
})
