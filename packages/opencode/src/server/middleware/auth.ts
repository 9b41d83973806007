/**
 * Token check for a server that was started with `OPENCODE_SERVER_TOKEN`.
 *
 * Two ways to present the token: `Authorization: Bearer TOKEN` (API clients, the SDK), or the
 * session cookie the login page sets in a browser (`routes/login.ts`). The cookie is an HMAC
 * keyed by the token over this boot, the port and an expiry, never the token, and is HttpOnly and
 * SameSite=Strict: the page's scripts cannot read it and other sites' requests do not carry it
 * (other ports of the same host are kept off by `hostOrigin`, which runs first).
 *
 * Hono's `bearerAuth` is not used: it answers a malformed header with 400 and a text body,
 * where the protocol wants one 401 JSON shape, and it cannot accept the `?token=` form that
 * `/event` needs (EventSource cannot send headers).
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto"
import type { Context, MiddlewareHandler } from "hono"
import { getCookie, setCookie } from "hono/cookie"
import { AuthFailures, clientAddress, tooManyAttempts } from "./auth-failures.ts"
import { isLoopbackHostname } from "./host-origin.ts"
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
  /** The server's session cookies (shared with the login route); default: cookies of a boot of their own. */
  cookies?: SessionCookies
  /** Wrong tokens per client address (shared with the login route); default: a count of its own. */
  failures?: AuthFailures
}

/**
 * The shortest token accepted when the server is reachable beyond loopback: 32 characters
 * cannot be guessed at the rate limit's pace. On loopback a shorter one is allowed (only this
 * machine can try it, at the same pace), with a note.
 */
const MIN_TOKEN_LENGTH = 32

/**
 * Why the server must not start with this token on this hostname, in words, or undefined.
 *
 * @example tokenRefusal(process.env.OPENCODE_SERVER_TOKEN, "0.0.0.0")
 */
export function tokenRefusal(token: string | undefined, hostname: string): string | undefined {
  if (isLoopbackHostname(hostname)) return undefined
  if (!token) return `binding to ${hostname} (beyond loopback) requires OPENCODE_SERVER_TOKEN`
  if (token.length < MIN_TOKEN_LENGTH) {
    return `OPENCODE_SERVER_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters when binding to ${hostname} (beyond loopback); it has ${token.length}. Make one with: openssl rand -base64 32`
  }
  return undefined
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
function sessionCookieName(c: Context): string {
  const port = portOf(c)
  return port ? `opencode_session_${port}` : "opencode_session"
}

function portOf(c: Context): string {
  const host = c.req.header("host") ?? new URL(c.req.url).host
  return /:(\d{1,5})$/.exec(host)?.[1] ?? ""
}

/** How long a session cookie opens this server: a working day; the user signs in again after. */
const SESSION_COOKIE_TTL_MS = 12 * 60 * 60_000

type SessionCookieOptions = {
  token: string
  /** This server's boot: a cookie from another boot (or another server with the same token) fails. */
  bootId: string
  ttlMs?: number
  /** The clock, injected by tests. */
  now?: () => number
}

/**
 * The session cookies of one server boot. A cookie is `expiry.nonce.mac`, the mac an HMAC keyed
 * by the token over this boot, the port the browser asked, the expiry and a random nonce: it is
 * not the token, works nowhere else, ends by itself, and each sign-in gets a fresh one.
 *
 * @example const cookies = new SessionCookies({ token, bootId }); cookies.issue(c); cookies.valid(c)
 */
export class SessionCookies {
  private readonly ttlMs: number
  private readonly now: () => number
  constructor(private readonly options: SessionCookieOptions) {
    this.ttlMs = options.ttlMs ?? SESSION_COOKIE_TTL_MS
    this.now = options.now ?? Date.now
  }

  private mac(port: string, expiry: string, nonce: string): string {
    return createHmac("sha256", this.options.token)
      .update(`opencode session v2\n${this.options.bootId}\n${port}\n${expiry}\n${nonce}`)
      .digest("base64url")
  }

  /**
   * Sets a fresh session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
   * request carries it), for the browser session only, and checked against its expiry here.
   */
  issue(c: Context): void {
    const expiry = String(this.now() + this.ttlMs)
    const nonce = randomBytes(16).toString("base64url")
    const value = `${expiry}.${nonce}.${this.mac(portOf(c), expiry, nonce)}`
    setCookie(c, sessionCookieName(c), value, { httpOnly: true, sameSite: "Strict", path: "/" })
  }

  /** Whether the request carries a cookie this boot issued for this port that has not expired. */
  valid(c: Context): boolean {
    const cookie = c.req.header("cookie") ? getCookie(c, sessionCookieName(c)) : undefined
    const parts = cookie?.split(".")
    if (!parts || parts.length !== 3) return false
    const [expiry, nonce, mac] = parts as [string, string, string]
    if (!/^\d{1,16}$/.test(expiry) || Number(expiry) <= this.now()) return false
    return tokensEqual(mac, this.mac(portOf(c), expiry, nonce))
  }
}

/**
 * Requires the token on every request when one is configured: `Authorization: Bearer TOKEN`,
 * the session cookie, or `?token=` where allowed. Else `401 { error: { code: "unauthorized" } }`,
 * or the login page for a page request. A wrong token counts against the client's address; over
 * the limit a presented token gets `429` with `Retry-After`.
 *
 * @example app.use(auth({ token: process.env.OPENCODE_SERVER_TOKEN, pagePaths: (p) => p === "/", loginPage }))
 */
export function auth(options: AuthOptions): MiddlewareHandler {
  const expected = options.token || undefined
  const cookies =
    expected === undefined
      ? undefined
      : (options.cookies ?? new SessionCookies({ token: expected, bootId: randomUUID() }))
  const failures = options.failures ?? new AuthFailures()
  const isPublic = options.publicPaths ?? (() => false)
  const isPage = options.pagePaths ?? (() => false)
  const acceptsQueryToken = options.queryTokenPaths ?? ((path: string) => path === "/event")
  return async function auth(c, next) {
    if (expected === undefined || cookies === undefined || isPublic(c.req.path)) return next()
    let presented = bearerOf(c.req.header("authorization"))
    if (presented === undefined && acceptsQueryToken(c.req.path)) presented = c.req.query("token") || undefined
    if (presented !== undefined) {
      const address = clientAddress(c)
      const wait = failures.retryAfter(address)
      if (wait !== undefined) {
        options.onRefused?.()
        return tooManyAttempts(c, wait)
      }
      if (tokensEqual(presented, expected)) return next()
      failures.record(address)
    } else if (cookies.valid(c)) return next()
    options.onRefused?.()
    if (options.loginPage && isPage(c.req.path) && (c.req.method === "GET" || c.req.method === "HEAD"))
      return options.loginPage(c)
    return refuse(c, 401, "unauthorized", "missing or invalid bearer token", { "WWW-Authenticate": "Bearer" })
  }
}
