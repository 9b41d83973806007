/**
 * `opencode serve`: the host, the Hono app on Node's HTTP server, the global config watcher,
 * and the signal handlers that close every instance with a `shutdown` origin before exiting.
 */
import { serve, type ServerType } from "@hono/node-server"
import { createHost, type Host, type HostOptions } from "../host.ts"
import { watchConfigFile } from "../project/config-watcher.ts"
import { contentDigest } from "../project/instance-context.ts"
import { GLOBAL_CONFIG_FILE } from "../config/global-config.ts"
import type { ShutdownSignal } from "../provenance/schemas.ts"
import { createServerApp } from "./app.ts"
import { readFileSync } from "node:fs"

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
  /** Closes every instance with a `shutdown` origin, then the HTTP server and the database. */
  shutdown(signal: ShutdownSignal): Promise<void>
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = createHost(options)
  const app = createServerApp(host, {
    defaultDirectory: options.defaultDirectory,
    token: options.token,
    hostname: options.hostname,
    ...(options.appDist ? { appDist: options.appDist } : {}),
  })
  const stopGlobalWatch = watchConfigFile(host.dataDir, GLOBAL_CONFIG_FILE, digestOf(host.globalConfig.file), {
    onChange: ({ digest, change }) => {
      if (digest === host.globalConfig.expectedDigest) return
      void host.instances
        .disposeAll({ kind: "config_invalidation", scope: "global", fileKey: host.redactor.digest(host.globalConfig.file), change })
        .catch(() => {})
    },
  })
  host.globalConfig.setWatch(stopGlobalWatch)

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.hostname }, () => resolve(s))
    s.once("error", reject)
  })
  const address = server.address()
  const port = typeof address === "object" && address ? address.port : options.port
  const shownHost = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname
  const url = `http://${shownHost}:${port}`

  let shuttingDown: Promise<void> | undefined
  const shutdown = (signal: Parameters<RunningServer["shutdown"]>[0]) => {
    shuttingDown ??= (async () => {
      try {
        await host.instances.disposeAll({ kind: "shutdown", signal })
      } finally {
        server.close()
        ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
        host.close()
      }
    })()
    return shuttingDown
  }
  return { url, host, shutdown }
}

function digestOf(file: string): string {
  try {
    return contentDigest(readFileSync(file))
  } catch {
    return "none"
  }
}
