/**
 * Lifecycle routes: reload, dispose, dispose all, and `git init` (which changes the instance's
 * context and so reloads it). Each builds an `api_route` origin from its own request and passes
 * it to the instance store: there is no ambient fallback.
 */
import { execFile } from "node:child_process"
import { type Context, Hono } from "hono"
import type { Host } from "../../host.ts"
import type { LifecycleAction } from "../../provenance/schemas.ts"
import { detectContext, NO_WORKTREE } from "../../project/instance-context.ts"
import { requestDirectory } from "../directory.ts"
import { ApiError } from "../errors.ts"
import { apiRouteOrigin } from "../origin.ts"

const LIFECYCLE_ID_HEADER = "x-opencode-lifecycle-id"

export function instanceRoutes(host: Host, defaultDirectory: string): Hono {
  const app = new Hono()
  const { instances } = host

  const answer = (c: Context, action: LifecycleAction, body: unknown) => {
    c.header(LIFECYCLE_ID_HEADER, action.lifecycleId)
    return c.json(body as object)
  }

  app.post("/instance/reload", async (c) => {
    const { key } = requestDirectory(c, defaultDirectory)
    const action = await instances.reload(key, apiRouteOrigin(c))
    return answer(c, action, action)
  })

  app.post("/instance/dispose", async (c) => {
    const { key } = requestDirectory(c, defaultDirectory)
    const action = await instances.dispose(key, apiRouteOrigin(c))
    return answer(c, action, true)
  })

  app.post("/global/dispose", async (c) => {
    const action = await instances.disposeAll(apiRouteOrigin(c))
    return answer(c, action, true)
  })

  app.post("/project/git/init", async (c) => {
    const { directory, key } = requestDirectory(c, defaultDirectory)
    // Held across the change and the close, so load and the watcher cannot race it.
    const action = await instances.locks.run(key, async () => {
      await gitInit(directory)
      return instances.reload(key, apiRouteOrigin(c), { locked: true })
    })
    const instance = await instances.load(directory, key, undefined)
    return answer(c, action, projectInfo(instance.context, directory))
  })

  app.get("/project/current", async (c) => {
    const { directory, key } = requestDirectory(c, defaultDirectory)
    // A GET never opens an instance (each holds a watch): an open one is used, else the
    // context is read from disk. Directories are opened by writes (a session, a prompt).
    const open = instances.get(key)
    const context = open && open.state === "open" ? open.context : await detectContext(directory)
    return c.json(projectInfo(context, directory))
  })

  return app
}

function projectInfo(context: { worktree: string; projectId: string }, directory: string) {
  return {
    id: context.projectId,
    worktree: context.worktree,
    directory,
    ...(context.projectId !== "global" || context.worktree !== NO_WORKTREE ? { vcs: "git" } : {}),
    time: { created: Date.now() },
  }
}

function gitInit(directory: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("git", ["init", "--quiet"], { cwd: directory, timeout: 15_000 }, (error) => {
      if (!error) return resolve()
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT"
      reject(
        missing
          ? new ApiError(503, "git_unavailable", "git is not installed on this machine (or not on PATH)")
          : new ApiError(
              500,
              "git_init_failed",
              `git init failed with exit code ${String((error as { code?: unknown }).code ?? "unknown")}`,
            ),
      )
    })
  })
}
