/**
 * `opencode serve`: the host, the Hono app on Node's HTTP server, the global config watcher,
 * and the signal handlers that close every instance with a `shutdown` origin before exiting.
 */
import { serve, type ServerType } from "@hono/node-server"
import { createHost, type Host, type HostOptions } from "../host.ts"
import { watchConfigFile } from "../project/config-watcher.ts"
import { fileDigestOf } from "../project/instance-context.ts"
import { GLOBAL_CONFIG_FILE } from "../config/global-config.ts"
import type { ShutdownSignal } from "../provenance/schemas.ts"
import { createServerApp } from "./app.ts"
import { stopRemoteWatches } from "./remote-run-watch.ts"
import { errorBody } from "./errors.ts"

export interface ServeOptions extends HostOptions {
  port: number
  hostname: string
  defaultDirectory: string
  token?: string | undefined
  appDist?: string
}

export interface RunningServer {
  url: string
  host: Host
  /**
   * Refuses new requests (503 `shutting_down`), closes every instance with a `shutdown` origin,
   * then the HTTP server and the database. Bounded: past the settle timeout (and a grace) the
   * runs still open get a summary naming `run_summary` missing, and it resolves `timed_out`.
   */
  shutdown(signal: ShutdownSignal): Promise<"closed" | "timed_out">
}

/** Added to the settle timeout before a shutdown stops waiting for closes (each already waits that long for its runs). */
const SHUTDOWN_GRACE_MS = 1000

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = createHost(options)
  const app = createServerApp(host, {
    defaultDirectory: options.defaultDirectory,
    token: options.token,
    hostname: options.hostname,
    ...(options.appDist ? { appDist: options.appDist } : {}),
  })
  const stopGlobalWatch = watchConfigFile(host.dataDir, GLOBAL_CONFIG_FILE, await fileDigestOf(host.globalConfig.file), {
    onChange: ({ digest, change }) => {
      if (host.globalConfig.isOwnWrite(digest)) return
      void host.instances
        .disposeAll({ kind: "config_invalidation", scope: "global", fileKey: host.redactor.digest(host.globalConfig.file), change })
        .catch(() => {})
    },
  })
  host.globalConfig.setWatch(stopGlobalWatch)

  let accepting = true
  const server: ServerType = await new Promise((resolve, reject) => {
    // Once shutdown begins nothing new is accepted: a prompt started after `disposeAll` took its
    // snapshot of the instances would never be closed, and would read later as a crash.
    const fetch: typeof app.fetch = (request, ...rest) =>
      accepting
        ? app.fetch(request, ...rest)
        : Response.json(errorBody("shutting_down", "the server is shutting down; no new work is accepted"), {
            status: 503,
            // As every other response: no page may frame it.
            headers: { "content-security-policy": "frame-ancestors 'none'", "x-frame-options": "DENY" },
          })
    const s = serve({ fetch, port: options.port, hostname: options.hostname }, () => resolve(s))
    s.once("error", reject)
  })
  const address = server.address()
  const port = typeof address === "object" && address ? address.port : options.port
  const shownHost = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname
  const url = `http://${shownHost}:${port}`

  let shuttingDown: Promise<"closed" | "timed_out"> | undefined
  const shutdown = (signal: Parameters<RunningServer["shutdown"]>[0]) => {
    shuttingDown ??= (async () => {
      accepting = false
      // Forwarded runs belong to no local instance: finalised first, naming this shutdown.
      stopRemoteWatches(host, signal)
      let timer: NodeJS.Timeout | undefined
      try {
        const closing = host.instances.disposeAll({ kind: "shutdown", signal }).then(() => "closed" as const)
        // A close can wait on something that never ends (a git init holding the directory lock):
        // shutdown waits as long as a close waits for its runs, then writes what it knows.
        const limit = host.instances.settleTimeout + SHUTDOWN_GRACE_MS
        const deadline = new Promise<"timed_out">((resolve) => (timer = setTimeout(() => resolve("timed_out"), limit)))
        const outcome = await Promise.race([closing, deadline])
        if (outcome === "timed_out") {
          closing.catch(() => {})
          const left = host.instances.settleNow()
          console.error(`shutdown: ${left.instances} instance(s) did not close within ${limit} ms; ${left.runIds.length} run(s) recorded with run_summary missing`)
        }
        return outcome
      } finally {
        clearTimeout(timer)
        server.close()
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
        host.close()
      }
    })()
    return shuttingDown
  }
  return { url, host, shutdown }
}
