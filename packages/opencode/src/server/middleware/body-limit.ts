/**
 * Caps request bodies before any route reads them: a local server still should not buffer
 * whatever a misbehaving client streams at it, neither in one request nor across all of them.
 */
import type { MiddlewareHandler } from "hono"
import { bodyLimit } from "hono/body-limit"
import { ApiError, errorBody } from "../errors.ts"

/** 1 MiB: far above any JSON body the routes take (prompts, config patches, action batches). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

/** 64 MiB: the bytes of request bodies all requests together may hold at once. */
export const DEFAULT_BODY_BUDGET = 64 * 1024 * 1024

/**
 * The bytes of request bodies in flight across every request of one server: each body reserves
 * its declared length (a chunked one, the per-request limit) until its request is answered.
 * Without it, a thousand clients each holding a body just under the limit hold a gigabyte.
 *
 * @example const budget = new BodyBudget(64 * 1024 * 1024); app.use(requestBodyLimit({ budget }))
 */
export class BodyBudget {
  #held = 0
  constructor(readonly bytes: number) {}
  /** Reserves `bytes`, or answers false when that would pass the budget. */
  reserve(bytes: number): boolean {
    if (this.#held + bytes > this.bytes) return false
    this.#held += bytes
    return true
  }
  release(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes)
  }
  /** Bytes reserved right now. */
  get held(): number {
    return this.#held
  }
}

/** Seconds a client is told to wait (Retry-After) when the body budget is spent. */
const BUSY_RETRY_AFTER_S = 1

type RequestBodyLimitOptions = {
  /** Largest accepted body in bytes; default `DEFAULT_BODY_LIMIT`. */
  maxSize?: number
  /** Shared by every request of a server; a body past it gets `503 server_busy` before it is read. */
  budget?: BodyBudget
}

/**
 * Hono's `bodyLimit` answering `413 { error: { code: "body_too_large" } }` through `handleError`,
 * and, with a `budget`, `503 server_busy` with `Retry-After` when the bodies already in flight
 * leave no room for this one. Its unread body is then read and dropped by Node, not kept (closing
 * the socket instead would reset it and could lose the answer).
 *
 * @example app.use(requestBodyLimit({ maxSize: 256 * 1024, budget }))
 */
export function requestBodyLimit(options: RequestBodyLimitOptions = {}): MiddlewareHandler {
  const maxSize = options.maxSize ?? DEFAULT_BODY_LIMIT
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, "body_too_large", `request body is larger than ${maxSize} bytes`)
    },
  })
  return (c, next) => {
    // A GET or HEAD without Content-Length or Transfer-Encoding has no body. Skipping it matters:
    // Hono's check reads `c.req.raw.body`, which makes @hono/node-server build a full Request
    // (abort signal, headers copy) for every read: about 15 % of a GET's CPU (measured by bench/).
    const method = c.req.method
    const contentLength = c.req.header("content-length")
    const chunked = c.req.header("transfer-encoding") !== undefined
    if ((method === "GET" || method === "HEAD") && !contentLength && !chunked) return next()
    const budget = options.budget
    // HTTP/1.1: without either header there is no body (a bare POST /instance/reload), so nothing to reserve.
    if (!budget || (!contentLength && !chunked)) return limit(c, next)
    // An oversized or empty body reserves nothing: the limit answers 413 before any read.
    const declared = contentLength === undefined ? maxSize : Number(contentLength)
    const reserved = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, maxSize) : maxSize
    if (reserved === 0 || (contentLength !== undefined && declared > maxSize)) return limit(c, next)
    if (!budget.reserve(reserved)) {
      return Promise.resolve(
        c.json(errorBody("server_busy", `too many request bodies in flight; retry in ${BUSY_RETRY_AFTER_S} s`), 503, {
          "retry-after": String(BUSY_RETRY_AFTER_S),
        }),
      )
    }
    return (async () => {
      try {
        return await limit(c, next)
      } finally {
        budget.release(reserved)
      }
    })()
  }
}
