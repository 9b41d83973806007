/**
 * Bearer-token check for a server that was started with `OPENCODE_SERVER_TOKEN`.
 *
 * Hono's `bearerAuth` is not used: it answers a malformed header with 400 and a text body,
 * where the contract wants one 401 JSON shape, and it cannot accept the `?token=` form that
 * `/event` needs (EventSource cannot send headers).
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { MiddlewareHandler } from "hono"
import { errorBody } from "../errors.ts"

export type AuthOptions = {
  /** The configured token; when undefined or empty, every request passes. */
  token: string | undefined
  /** Paths served without a token: the static app page and its assets. */
  publicPaths?: (path: string) => boolean
  /** Paths that may carry the token as `?token=` instead; default: `/event` only. */
  queryTokenPaths?: (path: string) => boolean
}

/**
 * Compares two secrets in time independent of where they differ and of their lengths
 * (both are hashed to 32 bytes first).
 *
 * @example tokensEqual(presented, configured) // true only for an exact match
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented).digest()
  const b = createHash("sha256").update(expected).digest()
  return timingSafeEqual(a, b)
}

function bearerOf(authorization: string | undefined): string | undefined {
  const match = authorization ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization) : null
  return match?.[1]
}

/**
 * Requires `Authorization: Bearer TOKEN` on every request when a token is configured, else
 * `401 { error: { code: "unauthorized" } }`.
 *
 * @example app.use(auth({ token: process.env.OPENCODE_SERVER_TOKEN, publicPaths: (p) => p === "/" || p.startsWith("/assets/") }))
 */
export function auth(options: AuthOptions): MiddlewareHandler {
  const expected = options.token || undefined
  const isPublic = options.publicPaths ?? (() => false)
  const acceptsQueryToken = options.queryTokenPaths ?? ((path: string) => path === "/event")
  return async function auth(c, next) {
    if (expected === undefined || isPublic(c.req.path)) return next()
    let presented = bearerOf(c.req.header("authorization"))
    if (presented === undefined && acceptsQueryToken(c.req.path)) presented = c.req.query("token") || undefined
    if (presented !== undefined && tokensEqual(presented, expected)) return next()
    return c.json(errorBody("unauthorized", "missing or invalid bearer token"), 401, { "WWW-Authenticate": "Bearer" })
  }
}
