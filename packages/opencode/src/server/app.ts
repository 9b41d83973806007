/**
 * The Hono app: middleware order, then the routes. Refusals come first (no framing, then Host
 * and Origin, the login route, the token), so a refused request does no work: no sequence
 * number, no request record, no directory lookup, only a counter in `/health`. Then the request
 * context (every request that got past them gets its id and, for writes, its record).
 */
import { Hono, type MiddlewareHandler } from "hono"
import type { Host } from "../host.ts"
import { VERSION } from "../host.ts"
import { handleError, handleNotFound } from "./errors.ts"
import { auth, hostOrigin, newRefusalCounts, noFraming, requestBodyLimit, requestContext } from "./middleware/index.ts"
import { requestDirectory } from "./directory.ts"
import { configRoutes } from "./routes/config.ts"
import { diagnosticsRoutes } from "./routes/diagnostics.ts"
import { eventRoutes, newEventClientCounts } from "./routes/event.ts"
import { instanceRoutes } from "./routes/instance.ts"
import { instanceLoad } from "./routes/instance-load.ts"
import { loginPage, loginRoutes } from "./routes/login.ts"
import { sessionRoutes } from "./routes/session.ts"
import { isAppPath, staticAppRoutes } from "./routes/static-app.ts"
import { workspaceForwarding } from "./workspace-forward.ts"

export interface ServerAppOptions {
  defaultDirectory: string
  token?: string | undefined
  hostname?: string | undefined
  bodyLimit?: number
  appDist?: string
}

const SESSION_IN_PATH = /^\/session\/(ses_[A-Za-z0-9_-]{1,64})(?:\/|$)/

/** The server's app: refusals, the spine's request hop, then serving and the routes. */
export function createServerApp(host: Host, options: ServerAppOptions): Hono {
  return composeServerApp(host, options, [requestHop(host, options.defaultDirectory)])
}

/**
 * The causal spine's request hop (hop 2): every request that got past the refusals gets its id
 * and, for writes, a journalled record linked to the session its path names.
 */
export function requestHop(host: Host, defaultDirectory: string): MiddlewareHandler {
  return requestContext({
    nextSeq: () => host.journal.nextSeq(),
    resolveDirectory: (c) => {
      if (!c.req.header("x-opencode-directory") && !c.req.query("directory")) return undefined
      return requestDirectory(c, defaultDirectory).key
    },
    // Reads are not journalled (a lifecycle action keeps its own copy of the request it needs);
    // every other request is, linked to the session its path names.
    shouldRecord: (c) => c.req.method !== "GET" && c.req.method !== "HEAD",
    onRecord: (record, c) => {
      const sessionId = SESSION_IN_PATH.exec(c.req.path)?.[1]
      host.journal.append("request", { sessionId }, record, record.time)
    },
  })
}

/**
 * The app from its pieces: the refusals, then `middleware` (the request hop, in the server's
 * app), then the body limit, workspace forwarding, instance load and the routes. The benchmarks
 * compose one without the hop to measure what it costs.
 */
export function composeServerApp(host: Host, options: ServerAppOptions, middleware: MiddlewareHandler[]): Hono {
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)

  const refused = newRefusalCounts()
  app.use(noFraming())
  app.use(hostOrigin({ hostname: options.hostname, onRefused: (kind) => refused[kind]++ }))
  if (options.token) app.route("/", loginRoutes({ token: options.token, onRefused: () => refused.auth++ }))
  app.use(auth({ token: options.token, pagePaths: isAppPath, loginPage: (c) => loginPage(c), onRefused: () => refused.auth++ }))

  for (const handler of middleware) app.use(handler)
  app.use(requestBodyLimit({ maxSize: options.bodyLimit }))
  app.use(workspaceForwarding(host))
  app.use(instanceLoad(host, options.defaultDirectory))

  const eventClients = newEventClientCounts()
  app.get("/health", (c) =>
    c.json({
      ok: true,
      version: VERSION,
      pid: process.pid,
      bootId: host.bootId,
      startedAt: host.startedAt,
      refused: { ...refused },
      events: { ...eventClients },
      ...(host.degraded.length ? { degraded: [...host.degraded] } : {}),
    }),
  )
  app.get("/global/health", (c) => c.json({ healthy: true, version: VERSION }))
  app.route("/", eventRoutes(host, { counts: eventClients }))
  app.route("/", sessionRoutes(host, options.defaultDirectory))
  app.route("/", instanceRoutes(host, options.defaultDirectory))
  app.route("/", configRoutes(host, options.defaultDirectory))
  app.route("/", diagnosticsRoutes(host))
  app.route("/", staticAppRoutes({ defaultDirectory: options.defaultDirectory, ...(options.appDist ? { dist: options.appDist } : {}) }))
  return app
}
