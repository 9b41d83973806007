/**
 * Static guard (docs/architecture.md, "Mechanisms that close each known loophole"): nothing outside an allow-list may abort a controller
 * or call the close primitive. Each allowed site names the test that interrupts a real run
 * through it; a new site fails here until it is reviewed, listed, and covered.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { expect, test } from "vitest"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SRC = path.resolve(HERE, "../../src")

interface Site {
  file: string
  /** The call as written (trimmed line contains it). */
  code: string
  why: string
  /** Test files (relative to test/) that interrupt a real run through this site. */
  coveredBy: string[]
  /** A controller of something other than a run. */
  notARun?: boolean
}

const ALLOWED: Site[] = [
  { file: "session/run-state.ts", code: "this.controller.abort(meta)", why: "the run controller itself: abort(InterruptMeta)", coveredBy: ["spine/lifecycle-routes.test.ts", "spine/user-stops.test.ts"] },
  { file: "session/run-state.ts", code: "this.controller.abort({ closeSite })", why: "a scope closed directly, summarised as unknown_interrupt", coveredBy: ["spine/scope-close.test.ts"] },
  { file: "session/run-state.ts", code: "closeScopeDirectly(closeSite: string): void {", why: "the direct scope close's definition (tests only; no caller in src)", coveredBy: ["spine/scope-close.test.ts"] },
  { file: "project/instance-store.ts", code: "await this.closeInstance(still, action, { reopen: true })", why: "load → load_reload on a context mismatch", coveredBy: ["spine/context-mismatch.test.ts"] },
  { file: "project/instance-store.ts", code: "await this.closeInstance(target, action, { reopen: operation === \"reload\" })", why: "reload, dispose, dispose_directory, dispose_all children", coveredBy: ["spine/lifecycle-routes.test.ts", "spine/config-invalidation.test.ts", "spine/races.test.ts", "spine/process-exit.test.ts"] },
  { file: "project/instance-store.ts", code: "private async closeInstance(", why: "the close primitive's definition", coveredBy: ["spine/lifecycle-routes.test.ts"] },
  { file: "project/instance-store.ts", code: "if (run.state.abort(request) === \"late\")", why: "step 3 of the close primitive, and a request just after a close (kept as late)", coveredBy: ["spine/lifecycle-routes.test.ts", "spine/races.test.ts", "spine/close-order.test.ts"] },
  { file: "project/instance-store.ts", code: "run.state.abort({ kind: \"echo\"", why: "a change another action handles: recorded, never a cause", coveredBy: ["spine/context-mismatch.test.ts", "spine/config-invalidation.test.ts"] },
  { file: "session/processor.ts", code: "this.run.abort({ kind: \"watchdog\" })", why: "the watchdog", coveredBy: ["spine/user-stops.test.ts"] },
  { file: "server/routes/session.ts", code: "run.abort({ kind: \"user_cancel\", request: requestRefOf(c) })", why: "the user's cancel", coveredBy: ["spine/user-stops.test.ts"] },
  // Not run controllers (no run can be stopped through them): allowed, not required to exist.
  { file: "server/remote-run-watch.ts", code: "this.controller.abort()", why: "its own fetch of a remote /event stream, not a run's controller", coveredBy: [], notARun: true },
  { file: "server/routes/event.ts", code: "stream.abort()", why: "cuts off an SSE client that stopped reading, not a run", coveredBy: [], notARun: true },
]

const PATTERNS = [/\.abort\(/, /closeInstance\(/, /closeScopeDirectly\(/]

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "__tests__" ? [] : sourceFiles(full)
    return /\.(ts|tsx|mts|js|mjs)$/.test(entry.name) && !/\.test\./.test(entry.name) ? [full] : []
  })
}

function findSites(): { file: string; line: number; text: string }[] {
  const found: { file: string; line: number; text: string }[] = []
  for (const full of sourceFiles(SRC)) {
    const file = path.relative(SRC, full).split(path.sep).join("/")
    readFileSync(full, "utf8")
      .split("\n")
      .forEach((raw, index) => {
        const text = raw.trim()
        if (text.startsWith("//") || text.startsWith("*") || text.startsWith("/*")) return
        if (PATTERNS.some((pattern) => pattern.test(text))) found.push({ file, line: index + 1, text })
      })
  }
  return found
}

test("every abort / close-primitive call site is allow-listed", () => {
  const found = findSites()
  const unlisted = found.filter((site) => !ALLOWED.some((allowed) => allowed.file === site.file && site.text.includes(allowed.code)))
  // closeScopeDirectly may be defined, never called, in the server.
  const scopeClosers = found.filter((site) => /closeScopeDirectly\(/.test(site.text) && !/^closeScopeDirectly\(closeSite: string\)/.test(site.text))
  expect(unlisted.map((s) => `${s.file}:${s.line}: ${s.text}`), "unreviewed abort/close sites").toEqual([])
  expect(scopeClosers.map((s) => `${s.file}:${s.line}`)).toEqual([])
})

test("every allow-listed site still exists and names a test that exists", () => {
  const found = findSites()
  for (const site of ALLOWED) {
    if (site.notARun) continue
    expect(found.some((f) => f.file === site.file && f.text.includes(site.code)), `stale allow-list entry ${site.file}: ${site.code}`).toBe(true)
    for (const test of site.coveredBy) expect(existsSync(path.resolve(HERE, "..", test)), `${site.file} is covered by ${test}`).toBe(true)
  }
  // Every site that can stop a run (all but other controllers) has an interrupt test.
  for (const site of ALLOWED.filter((s) => !s.notARun)) expect(site.coveredBy.length, site.code).toBeGreaterThan(0)
})
