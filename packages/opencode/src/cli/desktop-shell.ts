/**
 * The desktop window's shell: which program opens it, with which arguments, and the small file
 * through which a second `opencode desktop` on the same data dir finds the running server.
 */
import { existsSync, mkdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import type { ShutdownSignal } from "../provenance/schemas.ts"
import { readRegularFile, readRegularFileSync } from "../regular-file.ts"

export type Shell = { kind: "electron" | "chromium"; command: string }

/** Installed Chromium/Chrome builds, in the order they are tried. */
const BROWSER_CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/snap/bin/chromium",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
  "/opt/google/chrome/chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
]

export const NO_SHELL_MESSAGE =
  "no window to open the app in: install Chromium (Debian/Ubuntu: apt-get install chromium) or Google Chrome, " +
  "or add Electron (npm install electron) where its binary can be downloaded; " +
  "OPENCODE_DESKTOP_BROWSER=/path/to/chrome names a browser explicitly"

/**
 * The `electron` package's binary when it resolves and was actually downloaded: the package's
 * main export is the binary's path, and it throws when the download never happened.
 */
function resolveElectron(): string | undefined {
  try {
    const electron: unknown = createRequire(import.meta.url)("electron")
    return typeof electron === "string" ? electron : undefined
  } catch {
    return undefined
  }
}

/**
 * Electron when it is usable, else the first installed Chromium/Chrome. `OPENCODE_DESKTOP_BROWSER`
 * names a browser and skips Electron (callers check that it exists).
 */
export function findShell(
  env: Record<string, string | undefined>,
  options: { electron?: () => string | undefined; browsers?: string[] } = {},
): Shell | undefined {
  const explicit = env.OPENCODE_DESKTOP_BROWSER
  if (explicit) return { kind: "chromium", command: explicit }
  const electron = (options.electron ?? resolveElectron)()
  if (electron && existsSync(electron)) return { kind: "electron", command: electron }
  for (const candidate of options.browsers ?? [
    ...(env.CHROMIUM_PATH ? [env.CHROMIUM_PATH] : []),
    ...BROWSER_CANDIDATES,
  ]) {
    if (existsSync(candidate)) return { kind: "chromium", command: candidate }
  }
  return undefined
}

/** Chromium in app mode: a window of its own (no tabs, no address bar) on its own profile. */
export function chromiumArgs(options: {
  url: string
  profileDir: string
  isRoot: boolean
  debugPort?: number | undefined
}): string[] {
  return [
    `--app=${options.url}`,
    `--user-data-dir=${options.profileDir}`,
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--window-size=1280,860",
    // Chromium refuses to start its sandbox as root (containers); the page is our own loopback app.
    ...(options.isRoot ? ["--no-sandbox"] : []),
    ...(options.debugPort !== undefined
      ? [`--remote-debugging-port=${options.debugPort}`, "--remote-allow-origins=*"]
      : []),
  ]
}

/** A clean exit is the user closing the last window; anything else is the browser dying. */
export function shutdownSignalOfWindowExit(
  code: number | null,
  signal: NodeJS.Signals | null,
): Extract<ShutdownSignal, `desktop_${string}`> {
  return code === 0 && signal === null ? "desktop_window_closed" : "desktop_window_lost"
}

function desktopDir(dataDir: string): string {
  return path.join(dataDir, "desktop")
}

export function profileDir(dataDir: string): string {
  return path.join(desktopDir(dataDir), "profile")
}

const serverFile = (dataDir: string) => path.join(desktopDir(dataDir), "server.json")

/** Written by the desktop that started the server, removed when it stops it. */
export function writeServerFile(dataDir: string, url: string): void {
  mkdirSync(desktopDir(dataDir), { recursive: true })
  writeFileSync(serverFile(dataDir), `${JSON.stringify({ url, pid: process.pid })}\n`)
}

/** desktop/server.json: a URL and a pid. */
const SERVER_FILE_LIMITS = { maxBytes: 4096, label: "server.json" }

export function removeServerFile(dataDir: string): void {
  try {
    const recorded = JSON.parse(readRegularFileSync(serverFile(dataDir), SERVER_FILE_LIMITS).toString("utf8")) as {
      pid?: unknown
    }
    if (recorded.pid === process.pid) rmSync(serverFile(dataDir), { force: true })
  } catch {
    // Absent or unreadable: nothing of ours to remove.
  }
}

/** The URL of a server another desktop started for this data dir, if it is alive and answers. */
export async function runningDesktopServer(dataDir: string): Promise<string | undefined> {
  let recorded: { url?: unknown; pid?: unknown }
  try {
    recorded = JSON.parse(
      (await readRegularFile(serverFile(dataDir), SERVER_FILE_LIMITS)).toString("utf8"),
    ) as typeof recorded
  } catch {
    return undefined
  }
  if (typeof recorded.url !== "string" || typeof recorded.pid !== "number" || !pidAlive(recorded.pid)) return undefined
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost):\d+$/.test(recorded.url)) return undefined
  return (await answers(recorded.url)) ? recorded.url : undefined
}

/** Whether `url` is an opencode server that answers its health route. */
export async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/global/health`, { signal: AbortSignal.timeout(2000) })
    const body = (await res.json()) as { healthy?: unknown }
    return res.ok && body.healthy === true
  } catch {
    return false
  }
}

/**
 * The pid of a live Chromium that holds this profile (its `SingletonLock` names `host-pid`).
 * Launching on a held profile hands the URL to that process and exits at once, which would read
 * as a closed window.
 */
export function profileHolder(profile: string): number | undefined {
  try {
    const target = readlinkSync(path.join(profile, "SingletonLock"))
    const pid = Number(target.slice(target.lastIndexOf("-") + 1))
    return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/** Live servers on this data dir by their boot locks (`boots/*.lock` holds the pid). */
export function liveBootPids(dataDir: string, readDir: (dir: string) => string[]): number[] {
  const dir = path.join(dataDir, "boots")
  let names: string[]
  try {
    names = readDir(dir)
  } catch {
    return []
  }
  return names.flatMap((name) => {
    if (!name.endsWith(".lock")) return []
    try {
      const pid = Number(
        readRegularFileSync(path.join(dir, name), { maxBytes: 64, label: name }).toString("utf8").trim(),
      )
      return Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? [pid] : []
    } catch {
      return []
    }
  })
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"
  }
}
