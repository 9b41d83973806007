/**
 * `opencode desktop`: the server plus the app in a window of its own.
 *
 * The window is Electron when the `electron` package resolves with its binary, else an installed
 * Chromium/Chrome in app mode with its own profile under the data dir. The window is one child
 * process, so "the last window was closed" is that process exiting: the server then shuts down
 * through the close primitive with the `desktop_window_closed` reason, and every active run's
 * incident says so. A renderer reload does not end the process, so runs go on.
 *
 * Attach mode: when another `opencode desktop` already serves this data dir (its
 * `desktop/server.json` names a live pid whose server answers), or `--url` names a running server,
 * the window opens on that server and closing it never stops a server this command did not start.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, readdirSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { isLoopbackHostname } from "../server/middleware/host-origin.ts"
import { allowOtherUsersFromEnv, peerUserModeLine } from "../server/middleware/same-user.ts"
import { scrubForLog } from "../server/errors.ts"
import { appIsBuilt } from "../server/routes/static-app.ts"
import { startServer, type RunningServer } from "../server/server.ts"
import { resolveDataDir } from "./data-dir.ts"
import {
  answers,
  chromiumArgs,
  findShell,
  liveBootPids,
  NO_SHELL_MESSAGE,
  profileDir,
  profileHolder,
  removeServerFile,
  runningDesktopServer,
  shutdownSignalOfWindowExit,
  writeServerFile,
  type Shell,
} from "./desktop-shell.ts"

const ELECTRON_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "desktop-electron-main.cjs")
const fail = (message: string) => {
  console.error(`opencode desktop: ${message}`)
  return 1
}

export async function runDesktop(args: string[], env = process.env): Promise<number> {
  let values
  try {
    values = parseArgs({
      args,
      options: { "data-dir": { type: "string" }, directory: { type: "string" }, url: { type: "string" } },
      allowPositionals: false,
      strict: true,
    }).values
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err))
  }
  const dataDir = resolveDataDir(values["data-dir"], env)

  // Everything that can refuse is checked before a server starts.
  if (process.platform === "linux" && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return fail(
      "no display to open a window on (DISPLAY is not set); run it in a desktop session, or under Xvfb (xvfb-run opencode desktop)",
    )
  }
  const shell = findShell(env)
  if (!shell) return fail(NO_SHELL_MESSAGE)
  if (!existsSync(shell.command))
    return fail(`OPENCODE_DESKTOP_BROWSER=${shell.command} does not exist; ${NO_SHELL_MESSAGE}`)
  const debugPort =
    env.OPENCODE_DESKTOP_DEBUG_PORT !== undefined && env.OPENCODE_DESKTOP_DEBUG_PORT !== ""
      ? Number(env.OPENCODE_DESKTOP_DEBUG_PORT)
      : undefined
  if (debugPort !== undefined && (!Number.isInteger(debugPort) || debugPort < 0 || debugPort > 65535)) {
    return fail(
      `OPENCODE_DESKTOP_DEBUG_PORT must be an integer from 0 to 65535, got "${env.OPENCODE_DESKTOP_DEBUG_PORT}"`,
    )
  }
  const allowOtherUsers = allowOtherUsersFromEnv(env)
  if (!allowOtherUsers.ok) return fail(allowOtherUsers.error)

  let attachUrl: string | undefined
  if (values.url) {
    const url = values.url.replace(/\/+$/, "")
    let hostname: string
    try {
      hostname = new URL(url).hostname.replace(/^\[|\]$/g, "")
    } catch {
      return fail(`--url must be a URL such as http://127.0.0.1:4096, got "${values.url.slice(0, 200)}"`)
    }
    if (!isLoopbackHostname(hostname)) return fail("--url must name a server on this machine (a loopback address)")
    if (!(await answers(url))) return fail(`no opencode server answers at ${url}`)
    attachUrl = url
  } else {
    attachUrl = await runningDesktopServer(dataDir)
    if (!attachUrl) {
      const others = liveBootPids(dataDir, readdirSync)
      // Its URL is not recorded anywhere we can read; a second server on one data dir would race it.
      if (others.length > 0)
        return fail(
          `a server (pid ${others.join(", ")}) already uses ${dataDir}; open a window on it with --url http://127.0.0.1:PORT, or stop it first`,
        )
    }
  }

  const profile = profileDir(dataDir)
  let running: RunningServer | undefined
  let url: string
  // The window's sign-in URL when the server needs a token (Electron takes it from its env;
  // a browser's command line is readable by every local user, so Chromium shows the login page).
  let signInUrl: string | undefined
  if (attachUrl) {
    url = attachUrl
    if (values.directory)
      console.error("note: --directory is the running server's to choose; pick the project in the window")
    console.log(`opencode desktop attached to ${url} (closing this window leaves that server running)`)
  } else {
    // A Chromium left holding our profile would take the URL and exit at once: that is not a close.
    const holder = shell.kind === "chromium" ? profileHolder(profile) : undefined
    if (holder) return fail(`a window from an earlier opencode desktop is still open (pid ${holder}); close it first`)
    const token = env.OPENCODE_SERVER_TOKEN || undefined
    running = await startServer({
      port: 0,
      hostname: "127.0.0.1",
      dataDir,
      defaultDirectory: values.directory ?? process.cwd(),
      token,
      allowOtherUsers: allowOtherUsers.allow,
    })
    url = running.url
    writeServerFile(dataDir, url)
    console.log(`opencode server listening on ${url}`)
    console.log(peerUserModeLine(running.peerUserMode, token !== undefined))
    // As `serve` does: a one-time code, never the token, in the fragment no server or log sees.
    // The window gets a code of its own: the printed one stays unspent for another browser.
    if (token && shell.kind === "electron") signInUrl = running.signInUrl()
    const printed = running.signInUrl()
    if (printed)
      console.log(
        `open ${printed} in a browser to sign in (the link works once, for 10 minutes; after that, paste the token)`,
      )
    if (!appIsBuilt()) console.error("note: the app is not built (npm run build); the window shows how to build it")
  }

  mkdirSync(profile, { recursive: true })
  // Attached, Chromium on the owner's held profile opens the window in the owner's browser and exits.
  const handedTo = !running && shell.kind === "chromium" ? profileHolder(profile) : undefined
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0
  const window = launch(shell, { url, signInUrl, profile, isRoot, debugPort }, env)
  console.log(`opencode desktop window: ${shell.kind} ${shell.command} (pid ${window.child.pid ?? "?"})`)

  let stopping = false
  const finish = (reason: Parameters<RunningServer["shutdown"]>[0], code: number) => {
    stopping = true
    const done = running ? running.shutdown(reason).finally(() => removeServerFile(dataDir)) : Promise.resolve()
    done.then(
      () => process.exit(code),
      () => process.exit(1),
    )
  }

  // Not awaited: the window's end is an event of its own while the server runs. `exited` only
  // resolves (a failed start is its `error`), and the handler ends in finish().
  void window.exited.then(({ code, signal, error }) => {
    if (stopping) return
    const reason = error ? "desktop_window_lost" : shutdownSignalOfWindowExit(code, signal)
    if (reason === "desktop_window_lost") {
      const how = error ? `could not start (${error})` : signal ? `(signal ${signal})` : `(exit code ${code})`
      console.error(
        `opencode desktop: the window's browser ended unexpectedly ${how}${running ? "; stopping the server" : ""}`,
      )
      const tail = window.stderrTail()
      if (tail) console.error(tail)
    } else if (handedTo) {
      console.log(
        `opencode desktop: the window opened in the running desktop's browser (pid ${handedTo}); closing its last window stops the server`,
      )
    } else {
      console.log(
        running
          ? "opencode desktop: the window was closed; stopping the server"
          : `opencode desktop: the window was closed; the server at ${url} keeps running`,
      )
    }
    finish(reason, reason === "desktop_window_closed" ? 0 : 1)
  })

  const onSignal = (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => {
    if (stopping) process.exit(130)
    stopping = true
    window.child.kill("SIGTERM")
    finish(signal, 0)
  }
  process.on("SIGTERM", () => onSignal("SIGTERM"))
  process.on("SIGINT", () => onSignal("SIGINT"))
  process.on("SIGHUP", () => onSignal("SIGHUP"))
  process.on("uncaughtException", (err) => {
    // Scrubbed: an error's text can carry an API key or a token.
    console.error("uncaught exception:", scrubForLog(err))
    window.child.kill("SIGTERM")
    stopping = true
    finish("uncaught_exception", 1)
  })
  return 0
}

interface Window {
  child: ChildProcess
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>
  stderrTail(): string
}

function launch(
  shell: Shell,
  options: {
    url: string
    signInUrl?: string | undefined
    profile: string
    isRoot: boolean
    debugPort: number | undefined
  },
  env: NodeJS.ProcessEnv,
): Window {
  const args =
    shell.kind === "electron"
      ? [
          ELECTRON_MAIN,
          ...(options.isRoot ? ["--no-sandbox"] : []),
          ...(options.debugPort !== undefined ? [`--remote-debugging-port=${options.debugPort}`] : []),
        ]
      : chromiumArgs({
          url: options.url,
          profileDir: options.profile,
          isRoot: options.isRoot,
          debugPort: options.debugPort,
        })
  const child = spawn(shell.command, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env:
      shell.kind === "electron"
        ? { ...env, OPENCODE_DESKTOP_URL: options.signInUrl ?? options.url, OPENCODE_DESKTOP_PROFILE: options.profile }
        : env,
  })
  // Browsers are chatty on stderr: kept quietly for an error report, except the DevTools address.
  const lines: string[] = []
  let partial = ""
  child.stderr!.setEncoding("utf8")
  child.stderr!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) {
      const devtools = /DevTools listening on (ws:\/\/\S+)/.exec(line)
      if (devtools) console.log(`opencode desktop devtools ${devtools[1]}`)
      lines.push(line)
      if (lines.length > 20) lines.shift()
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.once("error", (err) =>
      resolve({ code: null, signal: null, error: (err as NodeJS.ErrnoException).code ?? err.message }),
    )
    child.once("exit", (code, signal) => resolve({ code, signal }))
  })
  return { child, exited, stderrTail: () => lines.join("\n").trim() }
}
