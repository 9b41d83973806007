import { defineConfig, devices } from "@playwright/test"
import { existsSync } from "node:fs"

// Chromium comes from the system (Debian's `chromium`) unless a path is given: scripts/test.mjs
// finds or installs one and passes it on in CHROMIUM_PATH.
function chromiumPath(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH || process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE
  if (fromEnv) return fromEnv
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium"
  return undefined // fall back to Playwright's own download (`npx playwright install chromium`)
}

const CI = !!process.env.CI

export default defineConfig({
  testDir: "e2e",
  testMatch: "**/*.spec.ts",
  outputDir: "test-results",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  retries: 0,
  workers: CI ? 2 : undefined,
  fullyParallel: false,
  forbidOnly: CI,
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  // No global webServer: each test starts its own server through the `server` fixture.
  use: {
    ...devices["Desktop Chrome"],
    headless: true,
    screenshot: "on",
    trace: "retain-on-failure",
    video: "off",
    actionTimeout: 15_000,
    navigationTimeout: 30_000,
    launchOptions: {
      executablePath: chromiumPath(),
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium" }],
})
