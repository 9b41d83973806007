/**
 * `opencode desktop` without a display: the window is a stand-in browser (a shell script that
 * records its arguments and "closes" when the test creates a file), so what is proved here is
 * the desktop command's own logic: which shell it picks, the app-mode arguments, the shutdown
 * through the close primitive when the window goes, attach mode, and the words for it.
 * The real window under Xvfb is e2e/desktop.spec.ts.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { chmodSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import path from "node:path"
import { promisify } from "node:util"
import { afterEach, describe, expect, test } from "vitest"
import { BIN, startTestServer, tempDir } from "../harness.ts"
import { chromiumArgs, findShell, NO_SHELL_MESSAGE, shutdownSignalOfWindowExit } from "../../src/cli/desktop-shell.ts"
import { originWords } from "../../src/provenance/explain.ts"
import { ShutdownOrigin } from "../../src/provenance/schemas.ts"

const exec = promisify(execFile)

describe("which window the desktop opens", () => {
  test("Electron when its package resolves with its binary, else Chromium, else an error naming both", () => {
    const dir = tempDir("oc-shell-")
    const electronBin = path.join(dir, "electron")
    const chromium = path.join(dir, "chromium")
    writeFileSync(electronBin, "")
    writeFileSync(chromium, "")
    const env = {}
    expect(findShell(env, { electron: () => electronBin, browsers: [chromium] })).toEqual({
      kind: "electron",
      command: electronBin,
    })
    // The npm package resolves but its binary was never downloaded: not usable.
    expect(findShell(env, { electron: () => path.join(dir, "missing"), browsers: [chromium] })).toEqual({
      kind: "chromium",
      command: chromium,
    })
    expect(findShell(env, { electron: () => undefined, browsers: [path.join(dir, "nope"), chromium] })).toEqual({
      kind: "chromium",
      command: chromium,
    })
    expect(findShell(env, { electron: () => undefined, browsers: [path.join(dir, "nope")] })).toBeUndefined()
    // An explicit browser wins over Electron (and the test suite's window is Chromium).
    expect(findShell({ OPENCODE_DESKTOP_BROWSER: chromium }, { electron: () => electronBin, browsers: [] })).toEqual({
      kind: "chromium",
      command: chromium,
    })
    expect(NO_SHELL_MESSAGE).toMatch(/chromium/)
    expect(NO_SHELL_MESSAGE).toMatch(/electron/)
  })

  test("Chromium runs as an app window with its own profile under the data dir", () => {
    const args = chromiumArgs({
      url: "http://127.0.0.1:5000",
      profileDir: "/data/desktop/profile",
      isRoot: true,
      debugPort: 0,
    })
    expect(args).toContain("--app=http://127.0.0.1:5000")
    expect(args).toContain("--user-data-dir=/data/desktop/profile")
    expect(args).toContain("--no-first-run")
    expect(args).toContain("--no-default-browser-check")
    expect(args).toContain("--no-sandbox")
    expect(args).toContain("--remote-debugging-port=0")
    const user = chromiumArgs({ url: "http://127.0.0.1:5000", profileDir: "/p", isRoot: false })
    expect(user).not.toContain("--no-sandbox")
    expect(user.some((a) => a.startsWith("--remote-debugging-port"))).toBe(false)
  })

  test("a window that exits cleanly was closed; any other end is not called a close", () => {
    expect(shutdownSignalOfWindowExit(0, null)).toBe("desktop_window_closed")
    expect(shutdownSignalOfWindowExit(1, null)).toBe("desktop_window_lost")
    expect(shutdownSignalOfWindowExit(null, "SIGKILL")).toBe("desktop_window_lost")
  })
})

describe("the words for a desktop close", () => {
  test("explain says the desktop window was closed", () => {
    const origin = ShutdownOrigin.parse({
      kind: "shutdown",
      signal: "desktop_window_closed",
      provenance: { complete: true, missing: [] },
    })
    expect(originWords({ origin })).toBe("server shutdown (the desktop window was closed)")
    const lost = ShutdownOrigin.parse({
      kind: "shutdown",
      signal: "desktop_window_lost",
      provenance: { complete: true, missing: [] },
    })
    expect(originWords({ origin: lost })).toMatch(/desktop window's browser ended unexpectedly/)
  })
})

// ── the command itself, with a stand-in window ────────────────────────────────

const children: ChildProcess[] = []
const browsers: Array<() => void> = []
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  // A stand-in window left open by a failed test would otherwise loop forever.
  for (const close of browsers.splice(0)) close()
})

/** A "browser" that records its arguments and exits (with `code`) once `dir/close` exists. */
function fakeBrowser(code = 0): { command: string; dir: string; close(): void; args(): string[] } {
  const dir = tempDir("oc-fake-browser-")
  const command = path.join(dir, "chromium")
  writeFileSync(
    command,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\nwhile [ ! -e "${dir}/close" ]; do sleep 0.05; done\nexit ${code}\n`,
  )
  chmodSync(command, 0o755)
  browsers.push(() => writeFileSync(path.join(dir, "close"), ""))
  return {
    command,
    dir,
    close: () => writeFileSync(path.join(dir, "close"), ""),
    args: () =>
      existsSync(path.join(dir, "args")) ? readFileSync(path.join(dir, "args"), "utf8").trim().split("\n") : [],
  }
}

interface Desktop {
  child: ChildProcess
  stdout(): string
  stderr(): string
  url: Promise<string>
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function startDesktop(args: string[], env: Record<string, string>): Desktop {
  const child = spawn(process.execPath, [BIN, "desktop", ...args], {
    env: { ...process.env, DISPLAY: ":99", OPENCODE_SCRIPTED_TICK_MS: "100", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  children.push(child)
  let out = ""
  let err = ""
  child.stderr!.on("data", (d) => (err += d))
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d
      const m = /(?:listening on|attached to) (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.once("exit", () => reject(new Error(`desktop exited before it printed its URL:\n${out}\n${err}`)))
  })
  url.catch(() => {})
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  )
  return { child, stdout: () => out, stderr: () => err, url, exit }
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A run that stays active until something closes it (scripted/stall: a slow run could finish on a loaded machine). */
async function startActiveRun(url: string, directory: string): Promise<{ sessionId: string; runId: string }> {
  const headers = { "content-type": "application/json", "x-opencode-directory": encodeURIComponent(directory) }
  const session = (await (await fetch(`${url}/session`, { method: "POST", headers, body: "{}" })).json()) as {
    id: string
  }
  const res = await fetch(`${url}/session/${session.id}/prompt`, {
    method: "POST",
    headers,
    body: JSON.stringify({ text: "hello", model: "scripted/stall" }),
  })
  expect(res.status).toBeLessThan(300)
  const { runId } = (await res.json()) as { runId: string }
  return { sessionId: session.id, runId }
}

async function exportOf(dataDir: string, sessionId: string): Promise<any> {
  const { stdout } = await exec(process.execPath, [BIN, "export", sessionId, "--data-dir", dataDir], {
    maxBuffer: 16 * 1024 * 1024,
  })
  return JSON.parse(stdout)
}

describe("opencode desktop", () => {
  test("closing the window shuts the server down: the run's incident is a shutdown because the desktop window was closed", async () => {
    const dataDir = tempDir("oc-desktop-data-")
    const project = tempDir("oc-desktop-proj-")
    const browser = fakeBrowser(0)
    const desktop = startDesktop(["--data-dir", dataDir, "--directory", project], {
      OPENCODE_DESKTOP_BROWSER: browser.command,
    })
    const url = await desktop.url
    await until(() => browser.args().length > 0, "the window to open")
    expect(browser.args()).toContain(`--app=${url}`)
    expect(browser.args()).toContain(`--user-data-dir=${path.join(dataDir, "desktop", "profile")}`)

    const { sessionId, runId } = await startActiveRun(url, project)
    browser.close()
    expect(await desktop.exit).toEqual({ code: 0, signal: null })

    const doc = await exportOf(dataDir, sessionId)
    const incident = doc.incidents.find((i: any) => i.runId === runId)
    expect(incident, JSON.stringify(doc.incidents)).toBeDefined()
    expect(incident.origin).toMatchObject({
      kind: "shutdown",
      signal: "desktop_window_closed",
      provenance: { complete: true, missing: [] },
    })
    expect(incident.verdict).toBe("diagnosed")

    const file = path.join(dataDir, "export.json")
    writeFileSync(file, JSON.stringify(doc))
    const { stdout } = await exec(process.execPath, [BIN, "explain", file])
    expect(stdout).toContain("server shutdown (the desktop window was closed)")
    // The server left nothing saying it still runs.
    expect(existsSync(path.join(dataDir, "desktop", "server.json"))).toBe(false)
  })

  test("attach: a second desktop on the same data dir opens a window on the running server, and closing it leaves that server running", async () => {
    const dataDir = tempDir("oc-desktop-data-")
    const project = tempDir("oc-desktop-proj-")
    const first = fakeBrowser(0)
    const owner = startDesktop(["--data-dir", dataDir, "--directory", project], {
      OPENCODE_DESKTOP_BROWSER: first.command,
    })
    const url = await owner.url
    const { sessionId, runId } = await startActiveRun(url, project)

    const second = fakeBrowser(0)
    const attached = startDesktop(["--data-dir", dataDir], { OPENCODE_DESKTOP_BROWSER: second.command })
    expect(await attached.url).toBe(url)
    await until(() => second.args().length > 0, "the second window to open")
    expect(second.args()).toContain(`--app=${url}`)
    second.close()
    expect(await attached.exit).toEqual({ code: 0, signal: null })
    expect(attached.stdout()).toContain(`the window was closed; the server at ${url} keeps running`)

    // With the owner's browser holding the profile (as Chromium does), the window opens there instead.
    symlinkSync(`testhost-${process.pid}`, path.join(dataDir, "desktop", "profile", "SingletonLock"))
    const third = fakeBrowser(0)
    const handedOff = startDesktop(["--data-dir", dataDir], { OPENCODE_DESKTOP_BROWSER: third.command })
    third.close()
    expect(await handedOff.exit).toEqual({ code: 0, signal: null })
    expect(handedOff.stdout()).toContain(
      `the window opened in the running desktop's browser (pid ${process.pid}); closing its last window stops the server`,
    )

    // The server the attached window did not start still answers, and the run still runs.
    const runs = (await (await fetch(`${url}/session/${sessionId}/run`)).json()) as Array<{
      runId: string
      status: string
    }>
    expect(runs.find((r) => r.runId === runId)?.status).toBe("running")

    first.close()
    expect(await owner.exit).toEqual({ code: 0, signal: null })
    const doc = await exportOf(dataDir, sessionId)
    expect(doc.incidents.find((i: any) => i.runId === runId)?.origin).toMatchObject({
      kind: "shutdown",
      signal: "desktop_window_closed",
    })
  })

  test("a browser that dies is not reported as a closed window", async () => {
    const dataDir = tempDir("oc-desktop-data-")
    const project = tempDir("oc-desktop-proj-")
    const browser = fakeBrowser(3)
    const desktop = startDesktop(["--data-dir", dataDir, "--directory", project], {
      OPENCODE_DESKTOP_BROWSER: browser.command,
    })
    const url = await desktop.url
    const { sessionId, runId } = await startActiveRun(url, project)
    browser.close()
    const exit = await desktop.exit
    expect(exit.code).toBe(1)
    expect(desktop.stderr()).toMatch(/window's browser ended unexpectedly \(exit code 3\)/)
    const doc = await exportOf(dataDir, sessionId)
    expect(doc.incidents.find((i: any) => i.runId === runId)?.origin).toMatchObject({
      kind: "shutdown",
      signal: "desktop_window_lost",
    })
  })

  test("a server started by `serve` on the data dir: refused without --url; with --url the window opens on it and closing it leaves it running", async () => {
    const server = await startTestServer()
    try {
      const browser = fakeBrowser(0)
      const refused = await exec(process.execPath, [BIN, "desktop", "--data-dir", server.dataDir], {
        env: { ...process.env, DISPLAY: ":99", OPENCODE_DESKTOP_BROWSER: browser.command },
      }).then(
        () => ({ code: 0, stderr: "" }),
        (err: any) => ({ code: err.code as number, stderr: String(err.stderr) }),
      )
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/already uses .*--url http:\/\/127\.0\.0\.1:PORT/)
      expect(browser.args()).toEqual([])

      const attached = startDesktop(["--data-dir", server.dataDir, "--url", server.url], {
        OPENCODE_DESKTOP_BROWSER: browser.command,
      })
      expect(await attached.url).toBe(server.url)
      await until(() => browser.args().length > 0, "the window to open")
      browser.close()
      expect(await attached.exit).toEqual({ code: 0, signal: null })
      expect((await server.call("GET", "/global/health")).status).toBe(200)
    } finally {
      await server.close()
    }
  })

  test("--url must be a loopback opencode server", async () => {
    const browser = fakeBrowser(0)
    const run = (url: string) =>
      exec(process.execPath, [BIN, "desktop", "--url", url, "--data-dir", tempDir("oc-desktop-data-")], {
        env: { ...process.env, DISPLAY: ":99", OPENCODE_DESKTOP_BROWSER: browser.command },
      }).then(
        () => ({ code: 0, stderr: "" }),
        (err: any) => ({ code: err.code as number, stderr: String(err.stderr) }),
      )
    expect(await run("http://example.com:4096")).toMatchObject({ code: 1, stderr: expect.stringContaining("loopback") })
    expect(await run("not a url")).toMatchObject({ code: 1, stderr: expect.stringContaining("--url must be a URL") })
    expect(await run("http://127.0.0.1:1")).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("no opencode server answers at http://127.0.0.1:1"),
    })
  })

  test("no window to open: one sentence naming what to install, and no server is started", async () => {
    const dataDir = tempDir("oc-desktop-data-")
    const missing = path.join(dataDir, "no-such-browser")
    const result = await exec(process.execPath, [BIN, "desktop", "--data-dir", dataDir], {
      env: { ...process.env, DISPLAY: ":99", OPENCODE_DESKTOP_BROWSER: missing },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: any) => ({ code: err.code as number, stderr: String(err.stderr) }),
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`OPENCODE_DESKTOP_BROWSER=${missing} does not exist`)
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(existsSync(path.join(dataDir, "opencode.db"))).toBe(false)
  })

  test("no display: says so before starting anything", async () => {
    const dataDir = tempDir("oc-desktop-data-")
    const browser = fakeBrowser(0)
    const env: Record<string, string | undefined> = { ...process.env, OPENCODE_DESKTOP_BROWSER: browser.command }
    delete env.DISPLAY
    delete env.WAYLAND_DISPLAY
    const result = await exec(process.execPath, [BIN, "desktop", "--data-dir", dataDir], { env }).then(
      () => ({ code: 0, stderr: "" }),
      (err: any) => ({ code: err.code as number, stderr: String(err.stderr) }),
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/no display/)
    expect(existsSync(path.join(dataDir, "opencode.db"))).toBe(false)
    expect(readdirSync(browser.dir)).not.toContain("args")
  })
})
