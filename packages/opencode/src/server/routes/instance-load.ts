/**
 * Every request that names a directory whose instance is open goes through `load` first (as
 * opencode's instance middleware does), so a context that changed outside the server (a
 * `git init`, a config edit the watcher has not reported yet) is noticed by whichever request
 * comes next. That request is only the occasion: `load` closes with a `context_mismatch` origin
 * that links it as `detectedDuring`, never as the initiator. A directory with no open instance
 * is left alone (reads do not create instances), and an invalid directory is the route's to answer.
 */
import type { MiddlewareHandler } from "hono"
import type { Host } from "../../host.ts"
import { requestDirectory } from "../directory.ts"
import { requestRefOf } from "../origin.ts"

/**
 * Routes that close the directory's instance themselves: loading first would make them wait out
 * a lock holder (git init) and arrive after its close, so they would never be recorded on its runs.
 */
const CLOSING_ROUTES = new Set(["/instance/reload", "/instance/dispose", "/project/git/init"])

export function instanceLoad(host: Host, defaultDirectory: string): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === "POST" && CLOSING_ROUTES.has(c.req.path)) return next()
    if (c.req.header("x-opencode-directory") || c.req.query("directory")) {
      let target: { directory: string; key: string } | undefined
      try {
        target = requestDirectory(c, defaultDirectory)
      } catch {
        target = undefined
      }
      const instance = target ? host.instances.get(target.key) : undefined
      if (target && instance && instance.state === "open")
        await host.instances.load(target.directory, target.key, () => requestRefOf(c))
    }
    await next()
  }
}
