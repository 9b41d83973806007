/**
 * The login page and `POST /login`, for a server started with `OPENCODE_SERVER_TOKEN`.
 *
 * `serve` prints a one-time sign-in URL (`/login#code=…`), never the token: a browser keeps
 * every URL it opened in its history (and syncs it), so what a URL carries must be useless
 * afterwards. The code works once, for ten minutes, and is in the fragment, which reaches no
 * server, proxy or log. The login page's script (a served file: the page allows no inline
 * script) takes it from the fragment, removes it from the address bar and posts it; without a
 * script, or once the code has expired, the user pastes the token into the form. A right code or
 * token is exchanged for a fresh session cookie (`SessionCookies`) and the browser is sent back
 * to a page of this server.
 *
 * Registered before the auth middleware and the request journal: a wrong token is a refusal,
 * counted and not recorded. Wrong tokens and codes count against the client's address.
 */
import { createHash, randomBytes } from "node:crypto"
import type { Context } from "hono"
import { Hono } from "hono"
import { z } from "zod"
import { AuthFailures, clientAddress, tooManyAttempts } from "../middleware/auth-failures.ts"
import { SessionCookies, tokensEqual } from "../middleware/auth.ts"
import { requestBodyLimit } from "../middleware/body-limit.ts"
import { refuse } from "../middleware/refusal.ts"
import { newRequestId, REQUEST_ID_HEADER } from "../middleware/request-context.ts"
import { parseJsonBody } from "../errors.ts"

const LOGIN_PATH = "/login"
/** The login page's script, served as a file (`script-src 'self'`). */
const LOGIN_SCRIPT_PATH = "/login/sign-in.js"

/** Far above any token; a login body is a few fields and a path. */
const LOGIN_BODY_LIMIT = 16 * 1024

/** How long a printed sign-in code works: long enough to open it, short enough to be gone from any history that keeps it. */
const SIGN_IN_CODE_TTL_MS = 10 * 60_000

type SignInCodeOptions = {
  ttlMs?: number
  /** Codes outstanding at once; issuing one more forgets the oldest. */
  max?: number
  /** The clock, injected by tests. */
  now?: () => number
}

/**
 * One-time sign-in codes: each works once, before it expires, on the server that issued it. Only
 * a digest of each is kept.
 *
 * @example const code = codes.issue(); codes.redeem(code) // true; codes.redeem(code) // false
 */
export class SignInCodes {
  private readonly expiries = new Map<string, number>()
  private readonly ttlMs: number
  private readonly max: number
  private readonly now: () => number

  constructor(options: SignInCodeOptions = {}) {
    this.ttlMs = options.ttlMs ?? SIGN_IN_CODE_TTL_MS
    this.max = options.max ?? 16
    this.now = options.now ?? Date.now
  }

  issue(): string {
    const code = randomBytes(24).toString("base64url")
    this.expiries.set(digest(code), this.now() + this.ttlMs)
    while (this.expiries.size > this.max) this.expiries.delete(this.expiries.keys().next().value!)
    return code
  }

  /** True once for a code this server issued that has not expired; the code is spent either way. */
  redeem(code: string): boolean {
    const key = digest(code)
    const expiry = this.expiries.get(key)
    this.expiries.delete(key)
    return expiry !== undefined && expiry > this.now()
  }
}

function digest(code: string): string {
  return createHash("sha256").update(code).digest("base64url")
}

/** The words a failed sign-in shows (never what was typed). */
const NOTICES = {
  token: "That token is not right.",
  code: "That sign-in link has been used or has expired (it works once, for 10 minutes). Paste the token instead.",
} as const

/**
 * The page a browser gets for a page request without the token: no token, no app, no directory,
 * nothing from the server but the form. Asking for the page is not a failure, so it answers `200`
 * (a `401` document is a console error in every browser); a wrong token or code answers `401`.
 * Its icon is inline: a `/favicon.ico` request without the token would be refused, another
 * console error.
 *
 * @example auth({ token, pagePaths: isAppPath, loginPage: (c) => loginPage(c) })
 */
export function loginPage(
  c: Context,
  options: { next?: string | undefined; notice?: string; status?: 200 | 401 | 429 } = {},
): Response {
  const next = safeNext(options.next ?? pathAndQuery(c))
  const message = options.notice ? `<p role="alert">${escapeAttr(options.notice)}</p>` : ""
  // A notice is a refused sign-in (401), unless the caller says otherwise (429).
  const status = options.status ?? (options.notice ? 401 : 200)
  c.header("Cache-Control", "no-store")
  if (status === 401) c.header("WWW-Authenticate", "Bearer")
  c.header(REQUEST_ID_HEADER, newRequestId())
  return c.html(
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>opencode: sign in</title>
<link rel="icon" href="data:,">
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:15vh auto;padding:0 1rem;color:#222}input{font:inherit;width:100%;box-sizing:border-box;padding:.4rem;margin:.4rem 0 .8rem}button{font:inherit;padding:.4rem 1rem}[role=alert]{color:#a00}</style>
</head>
<body>
<h1>opencode</h1>
<p>This server needs its token. Open the sign-in link <code>opencode serve</code> printed, or paste the token.</p>
${message}
<form method="post" action="${LOGIN_PATH}" data-testid="login-form">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required data-testid="login-token">
<input type="hidden" name="code" value="">
<input type="hidden" name="next" value="${escapeAttr(next)}">
<button type="submit" data-testid="login-submit">Sign in</button>
</form>
<script src="${LOGIN_SCRIPT_PATH}"></script>
</body>
</html>`,
    status,
  )
}

/**
 * Takes the one-time code from the fragment, clears the address bar and posts the code. A
 * `#token=` fragment (an old link) is cleared and never used: the token does not travel in URLs.
 */
const LOGIN_SCRIPT = `(function () {
  var hash = location.hash;
  if (!/(?:^#|&)(?:code|token)=/.test(hash)) return;
  history.replaceState(null, "", location.pathname + location.search);
  var match = /(?:^#|&)code=([A-Za-z0-9_-]{1,256})(?:&|$)/.exec(hash);
  if (!match) return;
  var form = document.querySelector("form");
  form.elements.code.value = match[1];
  form.submit();
})();
`

type LoginOptions = {
  token: string
  cookies: SessionCookies
  codes: SignInCodes
  failures: AuthFailures
  onRefused?: () => void
}

/** `GET /login`, its script, and `POST /login` (form or JSON `{ token | code, next? }`); only registered when a token is configured. */
export function loginRoutes(options: LoginOptions): Hono {
  const app = new Hono()
  app.get(LOGIN_PATH, (c) => loginPage(c, { next: c.req.query("next") ?? "/", status: 200 }))
  app.get(LOGIN_SCRIPT_PATH, (c) =>
    c.body(LOGIN_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" }),
  )
  app.use(LOGIN_PATH, requestBodyLimit({ maxSize: LOGIN_BODY_LIMIT }))
  app.post(LOGIN_PATH, async (c) => {
    const json = (c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")
    const address = clientAddress(c)
    const wait = options.failures.retryAfter(address)
    if (wait !== undefined) {
      options.onRefused?.()
      if (json) return tooManyAttempts(c, wait)
      c.header("Retry-After", String(wait))
      return loginPage(c, {
        next: "/",
        status: 429,
        notice: `Too many wrong attempts from this address. Try again in ${wait} seconds.`,
      })
    }
    const fields = await loginFields(c, json)
    const next = safeNext(fields.next)
    const byCode = fields.code !== undefined && options.codes.redeem(fields.code)
    const byToken = !byCode && fields.token !== undefined && tokensEqual(fields.token, options.token)
    if (!byCode && !byToken) {
      if (fields.code !== undefined || fields.token !== undefined) options.failures.record(address)
      options.onRefused?.()
      const notice = fields.code !== undefined && fields.token === undefined ? NOTICES.code : NOTICES.token
      if (json) return refuse(c, 401, "unauthorized", notice, { "WWW-Authenticate": "Bearer" })
      return loginPage(c, { next, notice })
    }
    options.cookies.issue(c)
    c.header("Cache-Control", "no-store")
    c.header(REQUEST_ID_HEADER, newRequestId())
    return json ? c.body(null, 204) : c.redirect(next, 303)
  })
  return app
}

/** A JSON login: read like every other JSON body (nesting limit, 400 naming the field). */
const LoginBody = z.object({
  token: z.string().max(4096).optional(),
  code: z.string().max(256).optional(),
  next: z.string().max(4096).optional(),
})

async function loginFields(c: Context, json: boolean): Promise<{ token?: string; code?: string; next?: string }> {
  let body: Record<string, unknown> = {}
  if (json) body = await parseJsonBody(c, LoginBody)
  else {
    try {
      body = (await c.req.parseBody()) as Record<string, unknown>
    } catch {
      body = {}
    }
  }
  const text = (value: unknown, max: number) =>
    typeof value === "string" && value.length > 0 && value.length <= max ? value : undefined
  return { token: text(body.token, 4096), code: text(body.code, 256), next: text(body.next, 4096) }
}

const BASE = "http://server.invalid"
/** A path of this server: one slash, then anything but a second slash or a backslash. */
const LOCAL_PATH = /^\/(?![/\\])/

/**
 * A path on this server to return to, never another site. Browsers fold `\` into `/` and drop
 * tabs and newlines, and normalising `/.//host` gives `//host`, so the path is checked as given,
 * after normalising and after decoding. The login page itself sends the browser to `/`.
 */
export function safeNext(next: string | undefined): string {
  if (!next || next.length > 2048 || !LOCAL_PATH.test(next) || /[\u0000-\u0020\u007f\\]/.test(next)) return "/"
  try {
    const url = new URL(next, BASE)
    const location = `${url.pathname}${url.search}`
    if (url.origin !== BASE || !LOCAL_PATH.test(location) || new URL(location, BASE).origin !== BASE) return "/"
    if (!LOCAL_PATH.test(decodeURIComponent(url.pathname))) return "/"
    if (url.pathname === LOGIN_PATH || url.pathname.startsWith(`${LOGIN_PATH}/`)) return "/"
    return location
  } catch {
    return "/"
  }
}

function pathAndQuery(c: Context): string {
  const url = new URL(c.req.url)
  return `${url.pathname}${url.search}`
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
}
