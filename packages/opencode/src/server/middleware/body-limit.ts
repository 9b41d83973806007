/**
 * Caps request bodies before any route reads them: a local server still should not buffer
 * whatever a misbehaving client streams at it.
 */
import type { MiddlewareHandler } from "hono"
import { bodyLimit } from "hono/body-limit"
import { ApiError } from "../errors.ts"

/** 1 MiB: far above any JSON body the routes take (prompts, config patches, action batches). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

export type RequestBodyLimitOptions = {
  /** Largest accepted body in bytes; default `DEFAULT_BODY_LIMIT`. */
  maxSize?: number
}

/**
 * Hono's `bodyLimit` answering `413 { error: { code: "body_too_large" } }` through `handleError`.
 *
 * @example app.use(requestBodyLimit({ maxSize: 256 * 1024 }))
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
    if ((method === "GET" || method === "HEAD") && !c.req.header("content-length") && !c.req.header("transfer-encoding")) return next()
    return limit(c, next)
  }
}
