/**
 * Keeps web pages off the local server. A page on another site can make a browser send
 * requests to `localhost` (a form POST, or DNS rebinding a name of its own to 127.0.0.1);
 * without these checks it could reload or dispose a user's instance. Clients without a
 * browser (curl, the SDK) send no `Origin` and pass.
 */
import type { Context, MiddlewareHandler } from "hono"
import { errorBody } from "../errors.ts"

export type HostOriginOptions = {
  /** The hostname the server was started with (`--hostname`); any port is accepted with it. */
  hostname?: string
  /** Further host names to accept, e.g. the machine's name when bound beyond loopback. */
  allowedHosts?: string[]
  /** Further exact origins to accept, e.g. `http://localhost:5173` for the app's dev server. */
  allowedOrigins?: string[]
}

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
 * (`http://` + the request's Host) or `Sec-Fetch-Site` is `cross-site`.
 *
 * @example app.use(hostOrigin({ hostname: "127.0.0.1" }))
 */
export function hostOrigin(options: HostOriginOptions = {}): MiddlewareHandler {
  const hosts = new Set([options.hostname, ...(options.allowedHosts ?? [])].filter((h): h is string => !!h).map(bare))
  const origins = new Set((options.allowedOrigins ?? []).map(originOf).filter((o): o is string => !!o))
  return async function hostOrigin(c, next) {
    const host = requestHost(c)
    const hostname = host === undefined ? undefined : hostnameOf(host)
    if (hostname === undefined || !(isLoopbackHostname(hostname) || hosts.has(hostname))) {
      return c.json(errorBody("forbidden_host", "Host is not this server"), 403)
    }
    if (c.req.header("sec-fetch-site")?.toLowerCase() === "cross-site") {
      return c.json(errorBody("forbidden_origin", "cross-site requests are refused"), 403)
    }
    const origin = c.req.header("origin")
    if (origin !== undefined) {
      const given = originOf(origin)
      const own = originOf(`http://${host}`)
      if (given === undefined || (given !== own && !origins.has(given))) {
        return c.json(errorBody("forbidden_origin", "Origin is not this server"), 403)
      }
    }
    return next()
  }
}
