/**
 * Keeps web pages off the local server. A page on another site can make a browser send
 * requests to `localhost` (a form POST, or DNS rebinding a name of its own to 127.0.0.1);
 * without these checks it could reload or dispose a user's instance. A page on another port of
 * the same loopback host is "same-site" (a site ignores the port) and would carry a SameSite
 * cookie, so only `same-origin` and `none` (the user's own navigation) pass `Sec-Fetch-Site`.
 * Clients without a browser (curl, the SDK) send neither header and pass.
 */
import type { Context, MiddlewareHandler } from "hono"
import { refuse } from "./refusal.ts"

export type HostOriginOptions = {
  /** The hostname the server was started with (`--hostname`); any port is accepted with it. */
  hostname?: string
  /** Further host names to accept, e.g. the machine's name when bound beyond loopback. */
  allowedHosts?: string[]
  /** Further exact origins to accept, e.g. `http://localhost:5173` for the app's dev server. */
  allowedOrigins?: string[]
  /** Told of each refusal (the only trace a refused request leaves). */
  onRefused?: (kind: "host" | "origin") => void
}

/** `Sec-Fetch-Site` values a browser sends for the server's own page and for the user's own navigation. */
const OWN_FETCH_SITES = new Set(["same-origin", "none"])

const IPV4_LOOPBACK = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Lower-cased hostname part of a `Host` value, without port or IPv6 brackets; undefined if malformed. */
export function hostnameOf(host: string): string | undefined {
  const value = host.trim().toLowerCase()
  if (value.startsWith("[")) {
    const end = value.indexOf("]")
    if (end < 0) return undefined
    const rest = value.slice(end + 1)
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined
    return value.slice(1, end)
  }
  const match = /^([^:\s/@]+)(?::\d{1,5})?$/.exec(value)
  return match?.[1]
}

/**
 * Whether a hostname (as returned by `hostnameOf`) is loopback: `localhost`, 127.0.0.0/8 or
 * `::1`. Subdomains of `localhost` are not: nothing promises they resolve locally everywhere.
 *
 * @example isLoopbackHostname("127.0.0.1") // true
 */
export function isLoopbackHostname(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "::1" || hostname === "0:0:0:0:0:0:0:1") return true
  const v4 = IPV4_LOOPBACK.exec(hostname)
  return v4 !== null && v4.slice(1).every((octet) => Number(octet) <= 255)
}

function bare(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1")
}

function requestHost(c: Context): string | undefined {
  // `app.request()` and some fetch stacks carry the host only in the URL.
  return c.req.header("host") ?? new URL(c.req.url).host
}

function originOf(value: string): string | undefined {
  try {
    const url = new URL(value)
    return url.origin === "null" ? undefined : url.origin
  } catch {
    return undefined
  }
}

/**
 * 403 `forbidden_host` when `Host` is neither loopback nor the configured hostname (DNS
 * rebinding); 403 `forbidden_origin` when an `Origin` header is not the server's own
 * (`http://` + the request's Host), or when `Sec-Fetch-Site` is anything but `same-origin` or
 * `none` (an allowed extra origin may also be `same-site` or `cross-site`).
 *
 * @example app.use(hostOrigin({ hostname: "127.0.0.1" }))
 */
export function hostOrigin(options: HostOriginOptions = {}): MiddlewareHandler {
  const hosts = new Set([options.hostname, ...(options.allowedHosts ?? [])].filter((h): h is string => !!h).map(bare))
  const origins = new Set((options.allowedOrigins ?? []).map(originOf).filter((o): o is string => !!o))
  const refused = (c: Context, kind: "host" | "origin", message: string) => {
    options.onRefused?.(kind)
    return refuse(c, 403, kind === "host" ? "forbidden_host" : "forbidden_origin", message)
  }
  return async function hostOrigin(c, next) {
    const host = requestHost(c)
    const hostname = host === undefined ? undefined : hostnameOf(host)
    if (hostname === undefined || !(isLoopbackHostname(hostname) || hosts.has(hostname))) {
      return refused(c, "host", "Host is not this server")
    }
    const origin = c.req.header("origin")
    const given = origin === undefined ? undefined : originOf(origin)
    const extra = given !== undefined && origins.has(given)
    const site = c.req.header("sec-fetch-site")?.toLowerCase()
    if (site !== undefined && !OWN_FETCH_SITES.has(site) && !extra) {
      return refused(c, "origin", "requests from other sites and other ports are refused")
    }
    if (origin !== undefined && !extra && (given === undefined || given !== originOf(`http://${host}`))) {
      return refused(c, "origin", "Origin is not this server")
    }
    return next()
  }
}

/**
 * The headers every response carries: no page may frame the app (`frame-ancestors 'none'`,
 * `X-Frame-Options: DENY`), and a page runs only scripts this server serves as files
 * (`script-src 'self'`: no inline script, no other origin's), so text that slips into a page
 * cannot run.
 */
export const PAGE_POLICY_HEADERS: readonly (readonly [string, string])[] = [
  ["Content-Security-Policy", "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"],
  ["X-Frame-Options", "DENY"],
]
const NO_FRAMING = PAGE_POLICY_HEADERS

/**
 * Sets `PAGE_POLICY_HEADERS` on every response, refusals and errors included (register it
 * first). A page that frames the app could overlay it and click its buttons for the user.
 *
 * Hono's `secureHeaders` is not used: it sets its headers on the response after the handler,
 * which makes every response build a full Headers object; on Node's server these go on the
 * socket's response directly, as the request id does (see request-context.ts).
 *
 * @example app.use(noFraming())
 */
export function noFraming(): MiddlewareHandler {
  return async function noFraming(c, next) {
    const outgoing = (
      c.env as
        { outgoing?: { setHeader?: (name: string, value: string) => unknown; headersSent?: boolean } } | undefined
    )?.outgoing
    if (outgoing && typeof outgoing.setHeader === "function" && !outgoing.headersSent) {
      for (const [name, value] of NO_FRAMING) outgoing.setHeader(name, value)
      return next()
    }
    await next()
    for (const [name, value] of NO_FRAMING) c.res.headers.set(name, value)
  }
}
