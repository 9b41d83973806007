/**
 * Watches a directory for changes to one config file. It watches the directory, not the file,
 * because editors save by writing a temporary file and renaming it over the old one. A change
 * is reported only when the content digest differs, so a write that changes nothing closes
 * nothing; it also reports when the watched directory itself disappears.
 */
import { existsSync, watch, type FSWatcher } from "node:fs"
import path from "node:path"
import { fileDigestOf } from "./instance-context.ts"

type ConfigChange = "created" | "modified" | "deleted"

interface ConfigWatchEvents {
  /** `readAt`: when the read that found this content began (`performance.now()`): a write made before it was on disk by then. */
  onChange(change: { digest: string; change: ConfigChange; readAt: number }): void
  onDirectoryGone?(): void
}

const DEBOUNCE_MS = 40

/**
 * @example const stop = watchConfigFile(dir, "opencode.json", "none", { onChange: (c) => ... })
 */
export function watchConfigFile(
  directory: string,
  fileName: string,
  initialDigest: string,
  events: ConfigWatchEvents,
): () => void {
  const file = path.join(directory, fileName)
  let known = initialDigest
  let timer: NodeJS.Timeout | undefined
  let watcher: FSWatcher | undefined
  let stopped = false

  // One check at a time (a read is asynchronous now); a change during one is checked after it.
  let checking = false
  let again = false
  const check = async () => {
    timer = undefined
    if (stopped) return
    if (checking) {
      again = true
      return
    }
    checking = true
    try {
      if (!existsSync(directory)) {
        events.onDirectoryGone?.()
        return
      }
      const readAt = performance.now()
      const digest = await fileDigestOf(file)
      if (stopped || digest === known) return
      const change: ConfigChange = known === "none" ? "created" : digest === "none" ? "deleted" : "modified"
      known = digest
      events.onChange({ digest, change, readAt })
    } finally {
      checking = false
      if (again && !stopped) {
        again = false
        void check()
      }
    }
  }

  try {
    watcher = watch(directory, { persistent: false }, (_event, name) => {
      if (name !== null && name !== fileName && existsSync(directory)) return
      if (timer) clearTimeout(timer)
      timer = setTimeout(() => void check(), DEBOUNCE_MS)
    })
    watcher.on("error", () => {
      // The directory went away (or became unwatchable): report it once, then stay quiet.
      if (!stopped && !existsSync(directory)) events.onDirectoryGone?.()
    })
  } catch {
    watcher = undefined
  }

  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
    watcher?.close()
  }
}
