#!/usr/bin/env node
// `npm test`: format check → lint → typecheck → vitest → build the app → find (or install) Chromium and Xvfb → Playwright.
// Stops at the first failing stage and exits with its code; always prints a stage summary.
//
//   node scripts/test.mjs               everything
//   node scripts/test.mjs --e2e-only    build + Playwright (skips format, lint, typecheck and vitest)
//   node scripts/test.mjs --no-e2e      format + lint + typecheck + vitest + build (skips Playwright)
//   node scripts/test.mjs -- ARGS       extra ARGS go to `playwright test` (e.g. a spec file)
//
// Chromium: $CHROMIUM_PATH, else $PLAYWRIGHT_CHROMIUM_EXECUTABLE, else /usr/bin/chromium.
// When none exists it installs one: Debian's `chromium` through apt-get when running as root,
// else Playwright's own build (`npx playwright install chromium`).
// Xvfb (the X display of the desktop window test): /usr/bin/Xvfb, else Debian's `xvfb` and
// `xauth` through apt-get when running as root. Without it the desktop spec skips, and fails
// under CI.
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const argv = process.argv.slice(2)
const dashdash = argv.indexOf("--")
const flags = dashdash === -1 ? argv : argv.slice(0, dashdash)
const passthrough = dashdash === -1 ? [] : argv.slice(dashdash + 1)

const known = new Set(["--e2e-only", "--no-e2e", "--help", "-h"])
for (const f of flags) {
  if (known.has(f)) continue
  if (f.startsWith("-")) {
    console.error(`test.mjs: unknown flag ${f} (use -- to pass arguments to playwright)`)
    process.exit(2)
  }
  passthrough.push(f) // a bare argument (spec file/filter) goes to playwright
}
if (flags.includes("--help") || flags.includes("-h")) {
  console.log("usage: node scripts/test.mjs [--e2e-only | --no-e2e] [-- playwright args]")
  process.exit(0)
}
const e2eOnly = flags.includes("--e2e-only")
const noE2e = flags.includes("--no-e2e")
if (e2eOnly && noE2e) {
  console.error("test.mjs: --e2e-only and --no-e2e exclude each other")
  process.exit(2)
}

const MIN = 60_000
const stageTimeoutMs = (name, fallbackMin) =>
  Number(process.env[`TEST_${name.toUpperCase()}_TIMEOUT_MS`]) || fallbackMin * MIN

/** @type {{ name: string, status: "passed" | "failed" | "skipped", ms: number, note?: string }[]} */
const results = []
let currentChild = null

function fmt(ms) {
  return ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${((ms % 60_000) / 1000).toFixed(0)}s`
    : `${(ms / 1000).toFixed(1)}s`
}

function summary() {
  console.log("\n── test stages ──")
  for (const r of results) {
    console.log(
      `  ${r.status.padEnd(7)} ${r.name.padEnd(10)} ${r.status === "skipped" ? "" : fmt(r.ms)}${r.note ? `  (${r.note})` : ""}`,
    )
  }
  const passed = results.filter((r) => r.status === "passed").length
  const failed = results.filter((r) => r.status === "failed").length
  console.log(`stages: ${passed} passed, ${failed} failed`)
}

function run(cmd, args, { env = {}, timeoutMs } = {}) {
  return new Promise((resolve) => {
    console.log(`$ ${[cmd, ...args].join(" ")}`)
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, ...env },
      shell: process.platform === "win32",
    })
    currentChild = child
    let timedOut = false
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true
          console.error(`\ntest.mjs: ${cmd} ${args[0] ?? ""} exceeded ${fmt(timeoutMs)}; stopping it`)
          child.kill("SIGTERM")
          setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 10_000).unref()
        }, timeoutMs)
      : null
    child.on("error", (err) => {
      console.error(`test.mjs: cannot run ${cmd}: ${err.message}`)
    })
    child.on("close", (code) => {
      if (timer) clearTimeout(timer)
      currentChild = null
      resolve(timedOut ? 124 : (code ?? 1))
    })
  })
}

async function stage(name, fn) {
  console.log(`\n━━ ${name} ━━`)
  const t0 = Date.now()
  let code
  let note
  try {
    const out = await fn()
    code = typeof out === "object" && out ? out.code : out
    note = typeof out === "object" && out ? out.note : undefined
  } catch (err) {
    console.error(err instanceof Error ? err.message : err)
    code = 1
  }
  const ms = Date.now() - t0
  results.push({ name, status: code === 0 ? "passed" : "failed", ms, note: code === 0 ? note : `exit ${code}` })
  if (code !== 0) {
    summary()
    process.exit(code || 1)
  }
}

function skip(name, why) {
  results.push({ name, status: "skipped", ms: 0, note: why })
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (currentChild) currentChild.kill(sig)
    summary()
    process.exit(130)
  })
}

// ── Chromium ────────────────────────────────────────────────────────────────
function has(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0
}

function canApt() {
  return typeof process.getuid === "function" && process.getuid() === 0 && has("apt-get")
}

let aptUpdated = false
/** apt-get install of Debian packages (the package lists updated once per run); returns the exit code. */
async function aptInstall(packages) {
  const env = { DEBIAN_FRONTEND: "noninteractive" }
  if (!aptUpdated) {
    const code = await run("apt-get", ["update", "-qq"], { env, timeoutMs: 5 * MIN })
    if (code !== 0) return code
    aptUpdated = true
  }
  return run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { env, timeoutMs: 10 * MIN })
}

const XVFB = "/usr/bin/Xvfb"
const XAUTH = "/usr/bin/xauth"

/**
 * Installs Xvfb and xauth when missing, as Chromium is. Never fails the stage: without them the
 * desktop spec says so itself (a skip, or a failure under CI).
 */
async function ensureXvfb() {
  const missing = [
    [XVFB, "xvfb"],
    [XAUTH, "xauth"],
  ]
    .filter(([file]) => !existsSync(file))
    .map(([, pkg]) => pkg)
  if (missing.length === 0) {
    console.log(`Xvfb: ${XVFB}`)
    return { code: 0, note: XVFB }
  }
  if (!canApt()) {
    console.log(
      `Xvfb: ${missing.join(" and ")} missing and cannot be installed here (needs root and apt-get); the desktop window test ${process.env.CI ? "fails under CI" : "is skipped"}`,
    )
    return { code: 0, note: "missing" }
  }
  console.log(`Xvfb: installing Debian's ${missing.join(" ")} (apt-get install -y ${missing.join(" ")})`)
  const code = await aptInstall(missing)
  if (code === 0 && existsSync(XVFB)) return { code: 0, note: `installed ${XVFB}` }
  console.log(
    `Xvfb: apt-get install failed (exit ${code}); the desktop window test ${process.env.CI ? "fails under CI" : "is skipped"}`,
  )
  return { code: 0, note: "install failed" }
}

/** Returns { code, env, note }: env carries CHROMIUM_PATH for playwright.config.ts. */
async function ensureChromium() {
  for (const name of ["CHROMIUM_PATH", "PLAYWRIGHT_CHROMIUM_EXECUTABLE"]) {
    const p = process.env[name]
    if (!p) continue
    if (existsSync(p)) {
      console.log(`Chromium: ${p} (from $${name})`)
      return { code: 0, env: { CHROMIUM_PATH: p }, note: p }
    }
    console.log(`Chromium: $${name}=${p} does not exist; looking elsewhere`)
  }
  const system = "/usr/bin/chromium"
  if (existsSync(system)) {
    console.log(`Chromium: ${system}`)
    return { code: 0, env: { CHROMIUM_PATH: system }, note: system }
  }
  if (canApt()) {
    console.log("Chromium: none found; installing Debian's chromium (apt-get update && apt-get install -y chromium)")
    const code = await aptInstall(["chromium"])
    if (code === 0 && existsSync(system))
      return { code: 0, env: { CHROMIUM_PATH: system }, note: `installed ${system}` }
    console.log("Chromium: apt-get install failed; falling back to Playwright's own build")
  } else {
    console.log("Chromium: none found; installing Playwright's own build (npx playwright install chromium)")
  }
  const code = await run("npx", ["playwright", "install", "chromium"], { timeoutMs: 10 * MIN })
  // With CHROMIUM_PATH unset and no /usr/bin/chromium, playwright.config.ts uses Playwright's build.
  return { code, env: { CHROMIUM_PATH: "", PLAYWRIGHT_CHROMIUM_EXECUTABLE: "" }, note: "playwright's chromium" }
}

// ── Stages ──────────────────────────────────────────────────────────────────
const started = Date.now()
console.log(
  `node ${process.version}; stages: ${e2eOnly ? "build, e2e" : noE2e ? "format, lint, typecheck, vitest, build" : "format, lint, typecheck, vitest, build, e2e"}`,
)

if (e2eOnly) {
  skip("format", "--e2e-only")
  skip("lint", "--e2e-only")
  skip("typecheck", "--e2e-only")
  skip("vitest", "--e2e-only")
} else {
  // Formatting is checked, never written: a file prettier would change fails here, and
  // `npm run format` rewrites it.
  await stage("format", () => run("npx", ["prettier", "--check", "."], { timeoutMs: stageTimeoutMs("format", 2) }))
  // ESLint (eslint.config.mjs): no floating promise, no silent empty catch, nothing unused.
  await stage("lint", () => run("npm", ["run", "lint"], { timeoutMs: stageTimeoutMs("lint", 3) }))
  await stage("typecheck", () => run("npm", ["run", "typecheck"], { timeoutMs: stageTimeoutMs("typecheck", 5) }))
  await stage("vitest", () => run("npx", ["vitest", "run"], { timeoutMs: stageTimeoutMs("vitest", 8) }))
}

await stage("build", () => run("npm", ["run", "build"], { timeoutMs: stageTimeoutMs("build", 5) }))

if (noE2e) {
  skip("chromium", "--no-e2e")
  skip("xvfb", "--no-e2e")
  skip("e2e", "--no-e2e")
} else {
  let chromiumEnv = {}
  await stage("chromium", async () => {
    const r = await ensureChromium()
    chromiumEnv = r.env
    return r
  })
  await stage("xvfb", ensureXvfb)
  await stage("e2e", () =>
    run("npx", ["playwright", "test", ...passthrough], { env: chromiumEnv, timeoutMs: stageTimeoutMs("e2e", 12) }),
  )
}

summary()
console.log(`total ${fmt(Date.now() - started)}`)
