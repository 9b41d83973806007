/**
 * Token check for a server that was started with `OPENCODE_SERVER_TOKEN`.
 *
 * Two ways to present the token: `Authorization: Bearer TOKEN` (API clients, the SDK), or the
 * session cookie the login page sets in a browser (`routes/login.ts`). The cookie holds an HMAC
 * of the token, never the token, and is HttpOnly and SameSite=Strict: the page's scripts cannot
 * read it and other sites' requests do not carry it (other ports of the same host are kept off
 * by `hostOrigin`, which runs first).
 *
 * Hono's `bearerAuth` is not used: it answers a malformed header with 400 and a text body,
 * where the protocol wants one 401 JSON shape, and it cannot accept the `?token=` form that
 * `/event` needs (EventSource cannot send headers).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import type { Context, MiddlewareHandler } from "hono"
import { getCookie, setCookie } from "hono/cookie"
import { refuse } from "./refusal.ts"

export type AuthOptions = {
  /** The configured token; when undefined or empty, every request passes. */
  token: string | undefined
  /** Paths served without a token (the login route is registered before this middleware instead). */
  publicPaths?: (path: string) => boolean
  /** Paths that may carry the token as `?token=` instead; default: `/event` only. */
  queryTokenPaths?: (path: string) => boolean
  /** Pages a browser navigates to: without the token they get `loginPage` instead of the 401 JSON. */
  pagePaths?: (path: string) => boolean
  /** The answer to a page request without the token (a small form that asks for it). */
  loginPage?: (c: Context) => Response
  /** Told of each refusal (the only trace a refused request leaves). */
  onRefused?: () => void
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
 * The session cookie's name: one per port, so two servers on one host do not log each other
 * out (browsers share a host's cookies across its ports).
 */
export function sessionCookieName(c: Context): string {
  const host = c.req.header("host") ?? new URL(c.req.url).host
  const port = /:(\d{1,5})$/.exec(host)?.[1]
  return port ? `opencode_session_${port}` : "opencode_session"
}

/** The session cookie's value: derived from the token, so it is not the token and changes with it. */
export function sessionCookieValue(token: string): string {
  return createHmac("sha256", token).update("opencode session cookie v1").digest("base64url")
}

/**
 * Sets the session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
 * request carries it), for the browser session only.
 */
export function setSessionCookie(c: Context, token: string): void {
  setCookie(c, sessionCookieName(c), sessionCookieValue(token), { httpOnly: true, sameSite: "Strict", path: "/" })
}

/**
 * Requires the token on every request when one is configured: `Authorization: Bearer TOKEN`,
 * the session cookie, or `?token=` where allowed. Else `401 { error: { code: "unauthorized" } }`,
 * or the login page for a page request.
 *
 * @example app.use(auth({ token: process.env.OPENCODE_SERVER_TOKEN, pagePaths: (p) => p === "/", loginPage }))
 */
export function auth(options: AuthOptions): MiddlewareHandler {
  const expected = options.token || undefined
  const cookieValue = expected === undefined ? undefined : sessionCookieValue(expected)
  const isPublic = options.publicPaths ?? (() => false)
  const isPage = options.pagePaths ?? (() => false)
  const acceptsQueryToken = options.queryTokenPaths ?? ((path: string) => path === "/event")
  return async function auth(c, next) {
    if (expected === undefined || cookieValue === undefined || isPublic(c.req.path)) return next()
    let presented = bearerOf(c.req.header("authorization"))
    if (presented === undefined && acceptsQueryToken(c.req.path)) presented = c.req.query("token") || undefined
    if (presented !== undefined && tokensEqual(presented, expected)) return next()
    const cookie = c.req.header("cookie") ? getCookie(c, sessionCookieName(c)) : undefined
    if (cookie !== undefined && tokensEqual(cookie, cookieValue)) return next()
    options.onRefused?.()
    if (options.loginPage && isPage(c.req.path) && (c.req.method === "GET" || c.req.method === "HEAD")) return options.loginPage(c)
    return refuse(c, 401, "unauthorized", "missing or invalid bearer token", { "WWW-Authenticate": "Bearer" })
  }
}
