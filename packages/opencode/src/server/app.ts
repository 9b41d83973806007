/**
 * The Hono app: middleware order, then the routes. Refusals come first (the page policy: no
 * framing, no foreign or inline script; then another user's connection, Host and Origin, the
 * login route, the token), so a refused request does no work: no sequence
 * number, no request record, no directory lookup, only a counter in `/health`. Then the request
 * context (every request that got past them gets its id and, for writes, its record).
 */
import type { TracingCounts } from "../tracing/trace-delivery.ts"
import { Hono, type MiddlewareHandler } from "hono"
import type { Host } from "../host.ts"
import { VERSION } from "../host.ts"
import { handleError, handleNotFound } from "./errors.ts"
import {
  auth,
  AuthFailures,
  BodyBudget,
  DEFAULT_BODY_BUDGET,
  hostOrigin,
  newRefusalCounts,
  noFraming,
  requestBodyLimit,
  requestContext,
  sameUser,
  SessionCookies,
} from "./middleware/index.ts"
import { requestDirectory } from "./directory.ts"
import { configRoutes } from "./routes/config.ts"
import { diagnosticsRoutes } from "./routes/diagnostics.ts"
import { eventRoutes, newEventClientCounts } from "./routes/event.ts"
import { instanceRoutes } from "./routes/instance.ts"
import { instanceLoad } from "./routes/instance-load.ts"
import { loginPage, loginRoutes, SignInCodes } from "./routes/login.ts"
import { sessionRoutes } from "./routes/session.ts"
import { isAppPath, staticAppRoutes } from "./routes/static-app.ts"
import { workspaceForwarding } from "./workspace-forward.ts"

interface ServerAppOptions {
  defaultDirectory: string
  token?: string | undefined
  hostname?: string | undefined
  /** When set, only connections whose peer socket this uid owns are served (`sameUser`). */
  onlyUid?: number | undefined
  bodyLimit?: number
  /** The bytes of request bodies all requests may hold at once (one per server); default `DEFAULT_BODY_BUDGET`. */
  bodyBudget?: BodyBudget
  appDist?: string
  /** The sign-in codes `serve` prints (one per server); default: codes nobody can read. */
  codes?: SignInCodes
  /** Clocks and limits of sign-in, injected by tests. */
  signIn?: SignInOptions
  /** Trace export's counts for `/health`, when export is on. */
  tracing?: () => TracingCounts
}

export type SignInOptions = {
  /** The clock of codes, cookies and the failure count. */
  now?: () => number
  /** Wrong tokens or codes allowed per client address a minute (default 10). */
  failureLimit?: number
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
  if (options.onlyUid !== undefined) app.use(sameUser({ uid: options.onlyUid, onRefused: () => refused.user++ }))
  app.use(hostOrigin({ hostname: options.hostname, onRefused: (kind) => refused[kind]++ }))
  // One cookie issuer and one failure count for the login route and the token check alike.
  const now = options.signIn?.now
  const cookies = options.token
    ? new SessionCookies({ token: options.token, bootId: host.bootId, ...(now ? { now } : {}) })
    : undefined
  const failures = new AuthFailures({
    ...(now ? { now } : {}),
    ...(options.signIn?.failureLimit ? { limit: options.signIn.failureLimit } : {}),
  })
  const codes = options.codes ?? new SignInCodes(now ? { now } : {})
  if (options.token && cookies)
    app.route("/", loginRoutes({ token: options.token, cookies, codes, failures, onRefused: () => refused.auth++ }))
  app.use(
    auth({
      token: options.token,
      cookies,
      failures,
      pagePaths: isAppPath,
      loginPage: (c) => loginPage(c),
      onRefused: () => refused.auth++,
    }),
  )

  for (const handler of middleware) app.use(handler)
  app.use(
    requestBodyLimit({ maxSize: options.bodyLimit, budget: options.bodyBudget ?? new BodyBudget(DEFAULT_BODY_BUDGET) }),
  )
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
      ...(options.tracing ? { tracing: options.tracing() } : {}),
    }),
  )
  app.get("/global/health", (c) => c.json({ healthy: true, version: VERSION }))
  app.route("/", eventRoutes(host, { counts: eventClients }))
  app.route("/", sessionRoutes(host, options.defaultDirectory))
  app.route("/", instanceRoutes(host, options.defaultDirectory))
  app.route("/", configRoutes(host, options.defaultDirectory))
  app.route("/", diagnosticsRoutes(host))
  app.route(
    "/",
    staticAppRoutes({
      defaultDirectory: options.defaultDirectory,
      ...(options.appDist ? { dist: options.appDist } : {}),
    }),
  )
  return app
}
