/**
 * Hop 2 of the causal spine: one `RequestContext` record per request, built only from named,
 * validated headers and the route template, and made ambient (AsyncLocalStorage) for the
 * rest of the chain so a route can build its `api_route` origin. Nothing else should read it:
 * lifecycle calls take their origin as an argument, and long-lived work is started through
 * `runOutsideRequest` so it never inherits (and later blames) the request that created it.
 */
import { AsyncLocalStorage } from "node:async_hooks"
import type { Context, MiddlewareHandler } from "hono"
import { matchedRoutes } from "hono/route"
import { newId } from "../../id.ts"
import { ActionId, ActionName, RequestContext, type RequestRef } from "../../provenance/schemas.ts"

export const REQUEST_ID_HEADER = "x-opencode-request-id"

/** What this middleware sets on the Hono context (like Hono's `RequestIdVariables`). */
export type RequestContextVariables = {
  /** Same value as `requestContext.requestId`; the name Hono's own helpers read. */
  requestId: string
  requestContext: RequestContext
}

export type RequestContextOptions = {
  /** The server's monotonic sequence counter, shared with its journal: records order by it. */
  nextSeq: () => number
  /** Receives the finished record (status and duration set) to journal it. Errors are logged, not thrown. */
  onRecord?: (record: RequestContext, c: Context) => void
  /**
   * Whether `onRecord` wants this record at all (most reads are not journalled). Asked before
   * the record is parsed through its schema, so a record nobody keeps costs no validation.
   */
  shouldRecord?: (record: RequestContext, c: Context) => boolean
  /**
   * Returns the request's directory key, if it has one. A throw (an invalid directory) leaves
   * the key out: the route answers that error, not this middleware.
   */
  resolveDirectory?: (c: Context) => string | undefined | Promise<string | undefined>
  /** Wall clock in ms; injectable for tests. */
  now?: () => number
}

const storage = new AsyncLocalStorage<RequestContext>()

/** Route template recorded when no endpoint matched (a 404, or a request refused before routing mattered). */
export const UNMATCHED_ROUTE = "(unmatched)"

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/
const WORKSPACE_ID = /^[A-Za-z0-9_-]{1,64}$/
const CLIENT_VERSION = /^[A-Za-z0-9._+-]+$/

function header(c: Context, name: string): string | undefined {
  const value = c.req.header(name)
  return value === undefined || value === "" ? undefined : value
}

function clientOf(c: Context): Pick<RequestContext, "clientKind" | "clientVersion"> {
  const client = header(c, "x-opencode-client")
  if (!client?.startsWith("app/")) return { clientKind: "plain" }
  const version = client.slice(4)
  return { clientKind: "app", clientVersion: CLIENT_VERSION.test(version) ? version.slice(0, 32) : undefined }
}

function actionOf(c: Context): Pick<RequestContext, "actionId" | "actionName" | "actionHeader"> {
  const rawId = header(c, "x-opencode-action-id")
  const rawName = header(c, "x-opencode-action-name")
  if (rawId === undefined && rawName === undefined) return { actionHeader: "absent" }
  const actionId = rawId !== undefined && ActionId.safeParse(rawId).success ? rawId : undefined
  const actionName = rawName !== undefined && ActionName.safeParse(rawName).success ? rawName : undefined
  // A name without an id cannot be joined to a renderer action: that is a malformed pair too.
  const valid = actionId !== undefined && (rawName === undefined || actionName !== undefined)
  return { actionId, actionName, actionHeader: valid ? "present" : "invalid" }
}

function traceparentOf(c: Context): string | undefined {
  const value = header(c, "traceparent")
  const match = value ? TRACEPARENT.exec(value) : null
  if (!match || /^0+$/.test(match[1]) || /^0+$/.test(match[2])) return undefined
  return value
}

function workspaceOf(c: Context): string | undefined {
  const value = header(c, "x-opencode-workspace")
  return value && WORKSPACE_ID.test(value) ? value : undefined
}

/**
 * The template of the route that handles (or handled) the request, never its URL. Before the
 * handler runs it is the first matched endpoint (Hono dispatches in registration order; routes
 * added with `use`/`all` are middleware, method `ALL`). After, it is the route that responded.
 */
function routeTemplate(c: Context, responded: boolean): string | undefined {
  let routes: ReturnType<typeof matchedRoutes>
  try {
    routes = matchedRoutes(c)
  } catch {
    return undefined
  }
  const route = responded ? routes[c.req.routeIndex] : routes.find((r) => r.method !== "ALL")
  if (!route || route.method === "ALL") return undefined
  return route.path.slice(0, 128)
}

/**
 * `req_` + a time-ordered part + randomness: ours alone, never derived from the request.
 *
 * @example newRequestId() // "req_m3x9k2a1b4c5d6e7f8a9b0c1"
 */
export function newRequestId(): string {
  return newId("req")
}

/** Absent facts are absent keys, so the record serialises and compares the same everywhere. */
function withoutUndefined<T extends object>(record: T): T {
  for (const key of Object.keys(record) as (keyof T)[]) if (record[key] === undefined) delete record[key]
  return record
}

function durationSince(start: number): number {
  return Math.max(0, Math.round((performance.now() - start) * 1000) / 1000)
}

/**
 * Builds the request's `RequestContext`, sets `x-opencode-request-id` on every response
 * (errors and 404s included), runs the rest of the chain inside it, and hands the finished
 * record to `onRecord`. An incoming request id is never trusted; a malformed provenance header
 * is dropped and recorded as `actionHeader: "invalid"`, and the request is served anyway.
 *
 * Hono's `requestId` is not used: it adopts any incoming id matching `[\w=-]`, and ids here
 * must be ours and `req_`-prefixed. Hono's `contextStorage` is not used either: it stores the
 * whole Context in a private store that `runOutsideRequest` could not exit.
 *
 * @example
 * let seq = 0
 * app.use(requestContext({ nextSeq: () => seq++, onRecord: (r) => journal.request(r) }))
 */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<{ Variables: RequestContextVariables }> {
  const now = options.now ?? Date.now
  return async function requestContext(c, next) {
    const started = performance.now()
    const requestId = newRequestId()
    // On Node's server the header goes on the socket's response directly: setting it on Hono's
    // context makes every response build a full Headers object (about a tenth of a small
    // request's CPU, measured by bench/). Node merges it into whatever the handler writes.
    const outgoing = nodeResponse(c)
    if (outgoing) outgoing.setHeader(REQUEST_ID_HEADER, requestId)
    else c.header(REQUEST_ID_HEADER, requestId)
    let directoryKey: string | undefined
    try {
      const resolved = options.resolveDirectory?.(c)
      // Awaited only when it is a promise: a needless await is a tick on every request.
      directoryKey = resolved instanceof Promise ? await resolved : resolved
    } catch {
      directoryKey = undefined
    }
    const record: RequestContext = withoutUndefined({
      requestId,
      seq: options.nextSeq(),
      time: now(),
      method: c.req.method.slice(0, 16),
      route: routeTemplate(c, false) ?? UNMATCHED_ROUTE,
      ...clientOf(c),
      ...actionOf(c),
      traceparent: traceparentOf(c),
      directoryKey: directoryKey || undefined,
      workspaceId: workspaceOf(c),
    })
    c.set("requestId", requestId)
    c.set("requestContext", record)
    try {
      await storage.run(record, next)
    } finally {
      record.route = routeTemplate(c, true) ?? record.route
      // A non-Error throw escapes Hono's onError; it will become a 500 upstream.
      record.status = c.finalized ? c.res.status : 500
      record.durationMs = durationSince(started)
      if (!outgoing && c.finalized && c.res.headers.get(REQUEST_ID_HEADER) !== requestId) c.header(REQUEST_ID_HEADER, requestId)
      if (options.onRecord && (!options.shouldRecord || options.shouldRecord(record, c))) emit(options.onRecord, record, c)
    }
  }
}

/** Node's `ServerResponse` under @hono/node-server, while its headers can still be set. */
function nodeResponse(c: Context): { setHeader(name: string, value: string): unknown } | undefined {
  const outgoing = (c.env as { outgoing?: { setHeader?: unknown; headersSent?: boolean } } | undefined)?.outgoing
  if (!outgoing || typeof outgoing.setHeader !== "function" || outgoing.headersSent) return undefined
  return outgoing as { setHeader(name: string, value: string): unknown }
}

function emit(onRecord: NonNullable<RequestContextOptions["onRecord"]>, record: RequestContext, c: Context): void {
  try {
    // Parse through the schema: the sink only ever sees allow-listed, well-formed fields.
    onRecord(RequestContext.parse(record), c)
  } catch (err) {
    console.error(`[${record.requestId}] request record not written:`, err)
  }
}

/**
 * The request this code runs for, when it runs inside one. Read it only at the route boundary
 * (to build an `api_route` origin); never from lifecycle, watcher or finalizer code.
 *
 * @example const request = currentRequest(); const origin = { kind: "api_route", request: request && requestRef(request) }
 */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore()
}

/**
 * The compact, durable copy of a request a lifecycle action keeps of its initiator.
 *
 * @example requestRef(currentRequest()!) // { requestId, route, method, clientKind, actionHeader, ... }
 */
export function requestRef(ctx: RequestContext): RequestRef {
  const ref: RequestRef = {
    requestId: ctx.requestId,
    route: ctx.route,
    method: ctx.method,
    clientKind: ctx.clientKind,
    actionHeader: ctx.actionHeader,
  }
  if (ctx.actionId !== undefined) ref.actionId = ctx.actionId
  if (ctx.actionName !== undefined) ref.actionName = ctx.actionName
  return ref
}

/**
 * Runs `fn` with no request context, for long-lived handles (watchers, timers, instance
 * bootstrap) that a request merely happens to create: their later callbacks must not carry,
 * and so blame, that request.
 *
 * @example const watcher = runOutsideRequest(() => fs.watch(dir, onChange))
 */
export function runOutsideRequest<T>(fn: () => T): T {
  return storage.exit(fn)
}
