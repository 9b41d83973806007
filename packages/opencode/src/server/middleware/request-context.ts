/**
 * Hop 2 of the causal spine: one `RequestContext` record per request, built only from named,
 * validated headers and the route template. It lives on the request's Hono context, not in
 * ambient storage: only code holding the request's context (the route boundary) can read it, so
 * lifecycle calls take their origin as an argument, and watchers, timers and finalizers that a
 * request happens to create can never inherit (and later blame) that request.
 *
 * Per request the hop takes only what every request needs: an id (set on the response), a
 * sequence number and a time. The record itself is built the first time something asks for it
 * (a route building an origin, or the journal after the response), so a read nobody records
 * costs no header parsing and no validation (`npm run bench` measures what is left).
 */
import type { Context, MiddlewareHandler, Next } from "hono"
import { matchedRoutes } from "hono/route"
import { newId } from "../../id.ts"
import { codeToken, workspaceIdToken } from "../../provenance/foreign-text.ts"
import { ActionId, ActionName, RequestContext, type RequestRef } from "../../provenance/schemas.ts"
import { formatTraceparent, parseTraceparent } from "../../provenance/trace-context.ts"

export const REQUEST_ID_HEADER = "x-opencode-request-id"

/** What this middleware sets on the Hono context (like Hono's `RequestIdVariables`). */
export type RequestContextVariables = {
  /** The request's id, as on the response header; the name Hono's own helpers read. */
  requestId: string
  /** The hop's per-request state; read the record through `requestContextOf(c)`. */
  requestHop: RequestHop
}

declare module "hono" {
  /** Absent when the middleware did not run for a request (a bench app composed without it). */
  interface ContextVariableMap {
    requestId: string | undefined
    requestHop: RequestHop | undefined
  }
}

/** What the middleware keeps per request until the record is built (lazily, at most once). */
interface RequestHop {
  readonly requestId: string
  readonly seq: number
  readonly time: number
  readonly started: number
  readonly resolveDirectory: RequestContextOptions["resolveDirectory"]
  /** The workspace header named no configured workspace (`forgetWorkspace`): the record keeps none. */
  workspaceRefused?: boolean
  record?: RequestContext
}

export type RequestContextOptions = {
  /** The server's monotonic sequence counter, shared with its journal: records order by it. */
  nextSeq: () => number
  /** Receives the finished record (status and duration set) to journal it. Errors are logged, not thrown. */
  onRecord?: (record: RequestContext, c: Context) => void
  /**
   * Whether `onRecord` wants this request at all (most reads are not journalled). Asked when the
   * request arrives, so a request nobody keeps costs no header parsing, no validation and no
   * work after its response.
   */
  shouldRecord?: (c: Context) => boolean
  /**
   * Returns the request's directory key, if it has one. A throw (an invalid directory) leaves
   * the key out: the route answers that error, not this middleware. Called only when the
   * record is built.
   */
  resolveDirectory?: (c: Context) => string | undefined
  /** Wall clock in ms; injectable for tests. */
  now?: () => number
}

/** Route template recorded when no endpoint matched (a 404, or a request refused before routing mattered). */
export const UNMATCHED_ROUTE = "(unmatched)"

/** A release version (`1.2.3`, `1.2.3-beta.2`): the header is free text, and only a version is kept. */
const CLIENT_VERSION = /^\d{1,4}\.\d{1,4}\.\d{1,4}(?:-(?:alpha|beta|rc|dev|next|canary)(?:\.\d{1,4})?)?$/

function header(c: Context, name: string): string | undefined {
  const value = c.req.header(name)
  return value === undefined || value === "" ? undefined : value
}

function clientOf(c: Context): Pick<RequestContext, "clientKind" | "clientVersion"> {
  const client = header(c, "x-opencode-client")
  if (!client?.startsWith("app/")) return { clientKind: "plain" }
  const version = client.slice(4)
  return { clientKind: "app", clientVersion: CLIENT_VERSION.test(version) ? version : undefined }
}

function actionOf(c: Context): Pick<RequestContext, "actionId" | "actionName" | "actionHeader"> {
  const rawId = header(c, "x-opencode-action-id")
  const rawName = header(c, "x-opencode-action-name")
  if (rawId === undefined && rawName === undefined) return { actionHeader: "absent" }
  const actionId = rawId !== undefined && ActionId.safeParse(rawId).success ? rawId : undefined
  // A name in the schema's shape that is key-shaped is no name: the OTLP mapping (`codeToken`) would drop it too.
  const actionName =
    rawName !== undefined && ActionName.safeParse(rawName).success && codeToken(rawName) !== undefined
      ? rawName
      : undefined
  // A name without an id cannot be joined to a renderer action: that is a malformed pair too.
  const valid = actionId !== undefined && (rawName === undefined || actionName !== undefined)
  return { actionId, actionName, actionHeader: valid ? "present" : "invalid" }
}

/**
 * The request's `traceparent` as version 00 (a later version's extra fields dropped, so the
 * record stays bounded), or absent when malformed.
 */
function traceparentOf(c: Context): string | undefined {
  const context = parseTraceparent(header(c, "traceparent"))
  return context && formatTraceparent(context)
}

/**
 * The workspace the request named, in a workspace id's shape and no key's (`workspaceIdToken`, the
 * rule a file's workspace id is read by): the header is whatever a client sent, a token included.
 * None once forwarding found no such workspace in the config (`forgetWorkspace`).
 */
function workspaceOf(c: Context, hop: RequestHop): string | undefined {
  if (hop.workspaceRefused) return undefined
  return workspaceIdToken(header(c, "x-opencode-workspace"))
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
 * Gives every request an id (set as `x-opencode-request-id` on every response, errors and 404s
 * included), a sequence number and a time, and after the response hands the finished record to
 * `onRecord` when `shouldRecord` wants it. An incoming request id is never trusted; a malformed
 * provenance header is dropped and recorded as `actionHeader: "invalid"`, and the request is
 * served anyway.
 *
 * Hono's `requestId` is not used: it adopts any incoming id matching `[\w=-]`, and ids here
 * must be ours and `req_`-prefixed. Hono's `contextStorage` is not used either: it makes the
 * whole Context ambient, which is exactly what the spine must not have.
 *
 * @example
 * let seq = 0
 * app.use(requestContext({ nextSeq: () => seq++, onRecord: (r) => journal.request(r) }))
 */
export function requestContext(
  options: RequestContextOptions,
): MiddlewareHandler<{ Variables: RequestContextVariables }> {
  const now = options.now ?? Date.now
  const { onRecord, shouldRecord } = options
  return function requestContext(c, next) {
    const requestId = newRequestId()
    // On Node's server the header goes on the socket's response directly: setting it on Hono's
    // context makes every response build a full Headers object (measured by bench/). Node
    // merges it into whatever the handler writes.
    const outgoing = nodeResponse(c)
    if (outgoing) outgoing.setHeader(REQUEST_ID_HEADER, requestId)
    else c.header(REQUEST_ID_HEADER, requestId)
    const recorded = onRecord !== undefined && (shouldRecord === undefined || shouldRecord(c))
    const hop: RequestHop = {
      requestId,
      seq: options.nextSeq(),
      time: now(),
      started: recorded ? performance.now() : 0,
      resolveDirectory: options.resolveDirectory,
    }
    c.set("requestId", requestId)
    c.set("requestHop", hop)
    // A request nobody records needs nothing after the response: no await, no closure.
    if (!recorded && outgoing) return next()
    return finish(c, next, hop, outgoing === undefined, recorded ? onRecord : undefined)
  }
}

async function finish(
  c: Context,
  next: Next,
  hop: RequestHop,
  headerOnContext: boolean,
  onRecord: RequestContextOptions["onRecord"],
): Promise<void> {
  try {
    await next()
  } finally {
    if (headerOnContext && c.finalized && c.res.headers.get(REQUEST_ID_HEADER) !== hop.requestId)
      c.header(REQUEST_ID_HEADER, hop.requestId)
    if (onRecord) {
      const record = buildRecord(c, hop)
      record.route = routeTemplate(c, true) ?? record.route
      // A non-Error throw escapes Hono's onError; it will become a 500 upstream.
      record.status = c.finalized ? c.res.status : 500
      record.durationMs = durationSince(hop.started)
      emit(onRecord, record, c)
    }
  }
}

/** The request's record, built from its headers the first time it is asked for. */
function buildRecord(c: Context, hop: RequestHop): RequestContext {
  if (hop.record) return hop.record
  let directoryKey: string | undefined
  try {
    directoryKey = hop.resolveDirectory?.(c)
  } catch {
    directoryKey = undefined
  }
  hop.record = withoutUndefined({
    requestId: hop.requestId,
    seq: hop.seq,
    time: hop.time,
    method: c.req.method.slice(0, 16),
    route: routeTemplate(c, false) ?? UNMATCHED_ROUTE,
    ...clientOf(c),
    ...actionOf(c),
    traceparent: traceparentOf(c),
    directoryKey: directoryKey || undefined,
    workspaceId: workspaceOf(c, hop),
  })
  return hop.record
}

/**
 * The record of the request `c` belongs to, or undefined when the request-context middleware
 * did not run for it. Read it only at the route boundary (to build an `api_route` origin); the
 * only way to reach it is the request's own context, so lifecycle, watcher and finalizer code
 * cannot.
 *
 * @example const request = requestContextOf(c); const origin = { kind: "api_route", request: request && requestRef(request) }
 */
export function requestContextOf(c: Context): RequestContext | undefined {
  const hop = c.get("requestHop")
  return hop ? buildRecord(c, hop) : undefined
}

/**
 * The request's `x-opencode-workspace` names no workspace of the global config: its record keeps
 * no workspace id, built already or not (the value is only what a client sent, refused with a 400).
 *
 * @example if (!workspace) { forgetWorkspace(c); throw new ApiError(400, "unknown_workspace", …) }
 */
export function forgetWorkspace(c: Context): void {
  const hop = c.get("requestHop")
  if (!hop) return
  hop.workspaceRefused = true
  if (hop.record) delete hop.record.workspaceId
}

/** The id this middleware gave the request `c` (the one on its response header), if it ran. */
export function requestIdOf(c: Context): string | undefined {
  return c.get("requestId")
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
 * The compact, durable copy of a request a lifecycle action keeps of its initiator.
 *
 * @example requestRef(requestContextOf(c)!) // { requestId, route, method, clientKind, actionHeader, ... }
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
