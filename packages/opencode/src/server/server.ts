/**
 * `opencode serve`'s server: the host, the Hono app, the global config watcher and the shutdown
 * path that closes every instance with a `shutdown` origin (`createServerCore`), behind Node's
 * HTTP server (`startServer`).
 */
import { serve, type ServerType } from "@hono/node-server"
import { createHost, type Host, type HostOptions } from "../host.ts"
import { watchConfigFile } from "../project/config-watcher.ts"
import { fileDigestOf } from "../project/instance-context.ts"
import { GLOBAL_CONFIG_FILE } from "../config/global-config.ts"
import type { ShutdownSignal } from "../provenance/schemas.ts"
import { startServerTracing } from "../tracing/server-tracing.ts"
import { createServerApp } from "./app.ts"
import { inMemoryEnv } from "./in-memory.ts"
import { stopRemoteWatches } from "./remote-run-watch.ts"
import { errorBody } from "./errors.ts"
import { peerUserMode, type PeerUserMode } from "./middleware/index.ts"
import { PAGE_POLICY_HEADERS } from "./middleware/host-origin.ts"
import { SignInCodes } from "./routes/login.ts"
import type { SignInOptions } from "./app.ts"
import { BodyBudget, DEFAULT_BODY_BUDGET } from "./middleware/index.ts"

export interface ServeOptions extends HostOptions {
  port: number
  hostname: string
  defaultDirectory: string
  token?: string | undefined
  /** `OPENCODE_ALLOW_OTHER_USERS=1`: serve other users of this machine too (default: only this uid, where that can be told). */
  allowOtherUsers?: boolean
  appDist?: string
  /** Sign-in clocks, injected by tests. */
  signIn?: SignInOptions
  /** How long a client may take to send its request headers; default `HEADERS_TIMEOUT_MS`. */
  headersTimeoutMs?: number
  /** How long a client may take to send its whole request (not the answer); default `REQUEST_TIMEOUT_MS`. */
  requestTimeoutMs?: number
  /** Open connections at most (SSE streams included); one more is closed at once. Default `MAX_CONNECTIONS`. */
  maxConnections?: number
}

/**
 * Node's defaults (60 s for headers, 300 s for a request, checked every 30 s) let a client that
 * trickles bytes hold a socket for minutes; thousands of them starve everyone else.
 * `requestTimeout` covers receiving the request only: an SSE stream or a prompt that waits for
 * its run answers for as long as it needs.
 */
const HEADERS_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 30_000
const MAX_CONNECTIONS = 1024

/** What `createServerCore` needs: the server's options, less those of its socket. */
type ServerCoreOptions = Omit<ServeOptions, "port" | "headersTimeoutMs" | "requestTimeoutMs" | "maxConnections">

/**
 * The server without its socket: the host, the app with every middleware, the global config
 * watcher, trace export and the shutdown path. `startServer` puts a socket in front of it; tests
 * that are not about the socket call it in memory (`request`) and exercise the same wiring.
 */
export interface ServerCore {
  host: Host
  /** Who may connect: only this uid, anyone (the opt-out), or anyone because this system cannot tell. */
  peerUserMode: PeerUserMode
  /** What the socket calls: the app, or 503 `shutting_down` once shutdown has begun. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>
  /**
   * `fetch`-compatible, answered in memory by the same `fetch`, as the server's own user on
   * loopback (see `in-memory.ts`). A path is taken relative to `origin`.
   */
  request(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** `http://` + the hostname the app accepts: the base of in-memory requests. */
  origin: string
  /**
   * Refuses new requests (503 `shutting_down`), closes every instance with a `shutdown` origin,
   * runs `closeTransport` (the socket's close, when there is one), then closes the database.
   * Bounded: past the settle timeout (and a grace) the runs still open get a summary naming
   * `run_summary` missing, and it resolves `timed_out`. Only the first call's arguments count.
   */
  shutdown(signal: ShutdownSignal, closeTransport?: () => void): Promise<"closed" | "timed_out">
  /** A fresh one-time sign-in URL under `baseUrl`, when the server has a token. */
  signInUrl(baseUrl: string): string | undefined
}

export interface RunningServer {
  url: string
  host: Host
  /** Who may connect: only this uid, anyone (the opt-out), or anyone because this system cannot tell. */
  peerUserMode: PeerUserMode
  /** `ServerCore.shutdown`, closing the HTTP server and its connections before the database. */
  shutdown(signal: ShutdownSignal): Promise<"closed" | "timed_out">
  /**
   * A fresh one-time sign-in URL (`URL/login#code=…`), when the server has a token: the code
   * works once, for ten minutes; the token is never in it.
   */
  signInUrl(): string | undefined
}

/** Added to the settle timeout before a shutdown stops waiting for closes (each already waits that long for its runs). */
const SHUTDOWN_GRACE_MS = 1000

export async function createServerCore(options: ServerCoreOptions): Promise<ServerCore> {
  const host = createHost(options)
  const mode = peerUserMode({ allowOtherUsers: options.allowOtherUsers ?? false })
  const codes = new SignInCodes(options.signIn?.now ? { now: options.signIn.now } : {})
  const env = options.env ?? process.env
  const tracing = startServerTracing(host, env)
  const app = createServerApp(host, {
    ...(tracing ? { tracing: () => tracing.counts() } : {}),
    codes,
    ...(options.signIn ? { signIn: options.signIn } : {}),
    bodyBudget: new BodyBudget(byteCount(env.OPENCODE_BODY_BUDGET_BYTES) ?? DEFAULT_BODY_BUDGET),
    defaultDirectory: options.defaultDirectory,
    token: options.token,
    hostname: options.hostname,
    onlyUid: mode === "same_user" ? process.getuid!() : undefined,
    ...(options.appDist ? { appDist: options.appDist } : {}),
  })
  const stopGlobalWatch = watchConfigFile(
    host.dataDir,
    GLOBAL_CONFIG_FILE,
    await fileDigestOf(host.globalConfig.file),
    {
      onChange: ({ digest, change, readAt }) => {
        if (host.globalConfig.isOwnWrite(digest, readAt)) return
        void host.instances
          .disposeAll({
            kind: "config_invalidation",
            scope: "global",
            fileKey: host.redactor.digest(host.globalConfig.file),
            change,
          })
          .catch((err) => host.instances.watcherCloseFailed(err, "global_config_watch"))
      },
    },
  )
  host.globalConfig.setWatch(stopGlobalWatch)

  // Once shutdown begins nothing new is accepted: a prompt started after `disposeAll` took its
  // snapshot of the instances would never be closed, and would read later as a crash.
  let accepting = true
  const fetch: ServerCore["fetch"] = (request, env) =>
    accepting
      ? app.fetch(request, env)
      : Response.json(errorBody("shutting_down", "the server is shutting down; no new work is accepted"), {
          status: 503,
          // As every other response: no page may frame it or run another's script in it.
          headers: Object.fromEntries(PAGE_POLICY_HEADERS),
        })
  const origin = `http://${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}`
  const request: ServerCore["request"] = async (input, init) =>
    fetch(
      input instanceof Request ? new Request(input, init) : new Request(new URL(input, origin), init),
      inMemoryEnv(),
    )

  let shuttingDown: Promise<"closed" | "timed_out"> | undefined
  const shutdown: ServerCore["shutdown"] = (signal, closeTransport) => {
    shuttingDown ??= (async () => {
      accepting = false
      // Nor does a request admitted before: no instance opens once disposeAll takes its snapshot.
      host.instances.refuseNewInstances()
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
          // The runs still open were stopped by this shutdown (its own close of their directory).
          const left = host.instances.settleNow((action) => action.origin.kind === "shutdown")
          console.error(
            `shutdown: ${left.instances} instance(s) did not close within ${limit} ms; ${left.runIds.length} run(s) recorded with run_summary missing`,
          )
        }
        return outcome
      } finally {
        // Before the database closes: queued traces still read their records. Bounded (TRACE_FLUSH_MS).
        await tracing?.flush()
        clearTimeout(timer)
        closeTransport?.()
        host.close()
      }
    })()
    return shuttingDown
  }
  const signInUrl = (baseUrl: string) => (options.token ? `${baseUrl}/login#code=${codes.issue()}` : undefined)
  return { host, peerUserMode: mode, fetch, request, origin, shutdown, signInUrl }
}

/** The core behind Node's HTTP server on `hostname:port`. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const core = await createServerCore(options)
  const server: ServerType = await new Promise((resolve, reject) => {
    const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS
    const serverOptions = {
      headersTimeout,
      requestTimeout: Math.max(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, headersTimeout),
      // How often Node looks for connections past those timeouts (its default, 30 s, would let a slow client live that much longer).
      connectionsCheckingInterval: Math.min(1000, Math.max(100, headersTimeout / 4)),
    }
    const s = serve({ fetch: core.fetch, port: options.port, hostname: options.hostname, serverOptions }, () =>
      resolve(s),
    )
    s.maxConnections = options.maxConnections ?? MAX_CONNECTIONS
    s.once("error", reject)
  })
  const address = server.address()
  const port = typeof address === "object" && address ? address.port : options.port
  const url = `${core.origin}:${port}`
  const closeSocket = () => {
    server.close()
    ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
  }
  return {
    url,
    host: core.host,
    peerUserMode: core.peerUserMode,
    shutdown: (signal) => core.shutdown(signal, closeSocket),
    signInUrl: () => core.signInUrl(url),
  }
}

/** A positive whole number of bytes from the environment, else undefined (the default applies). */
function byteCount(value: string | undefined): number | undefined {
  const n = Number(value)
  return value && Number.isSafeInteger(n) && n > 0 ? n : undefined
}
