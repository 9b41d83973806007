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
  // Under CI one retry: a test that fails twice fails; one failure on a loaded 2-core machine is reported as flaky, not hidden.
  retries: process.env.CI ? 1 : 0,
  // Every test starts its own server(s) on its own data dir, so tests are independent: 2 workers
  // (one per core on the reference machine), every test of a file in parallel.
  workers: Number(process.env.E2E_WORKERS) || 2,
  fullyParallel: true,
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
