/**
 * The login page and `POST /login`, for a server started with `OPENCODE_SERVER_TOKEN`.
 *
 * `serve` prints the server's URL once with the token in the fragment (`/#token=…`): a fragment
 * never reaches the server, a proxy or their logs. A page request without the token gets this
 * small page; its script takes the token from the fragment, removes it from the address bar
 * and posts it (without a script, the user pastes it into the form). A right token is
 * exchanged for the HttpOnly, SameSite=Strict session cookie (`setSessionCookie`) and the
 * browser is sent back to the page it asked for; the token itself is never in a page.
 *
 * Registered before the auth middleware and the request journal: a wrong token is a refusal,
 * counted and not recorded.
 */
import type { Context } from "hono"
import { Hono } from "hono"
import { setSessionCookie, tokensEqual } from "../middleware/auth.ts"
import { requestBodyLimit } from "../middleware/body-limit.ts"
import { refuse } from "../middleware/refusal.ts"
import { newRequestId, REQUEST_ID_HEADER } from "../middleware/request-context.ts"
import { z } from "zod"
import { parseJsonBody } from "../errors.ts"

export const LOGIN_PATH = "/login"

/** Far above any token; a login body is one field and a path. */
const LOGIN_BODY_LIMIT = 16 * 1024

/**
 * The page a browser gets for a page request without the token: no token, no app, no directory,
 * nothing from the server but the form. Asking for the page is not a failure, so it answers `200`
 * (a `401` document is a console error in every browser); a wrong token answers `401`. Its icon
 * is inline: a `/favicon.ico` request without the token would be refused, another console error.
 *
 * @example auth({ token, pagePaths: isAppPath, loginPage: (c) => loginPage(c) })
 */
export function loginPage(c: Context, options: { next?: string; failed?: boolean } = {}): Response {
  const next = safeNext(options.next ?? pathAndQuery(c))
  const message = options.failed ? `<p role="alert">That token is not right.</p>` : ""
  c.header("Cache-Control", "no-store")
  if (options.failed) c.header("WWW-Authenticate", "Bearer")
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
<p>This server needs its token. Open the URL <code>opencode serve</code> printed, or paste the token.</p>
${message}
<form method="post" action="${LOGIN_PATH}" data-testid="login-form">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required data-testid="login-token">
<input type="hidden" name="next" value="${escapeAttr(next)}">
<button type="submit" data-testid="login-submit">Sign in</button>
</form>
<script>
(function () {
  var match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  var form = document.querySelector("form");
  form.elements.token.value = decodeURIComponent(match[1]);
  form.submit();
})();
</script>
</body>
</html>`,
    options.failed ? 401 : 200,
  )
}

/** `POST /login` (form or JSON `{ token, next? }`); only registered when a token is configured. */
export function loginRoutes(options: { token: string; onRefused?: () => void }): Hono {
  const app = new Hono()
  app.use(LOGIN_PATH, requestBodyLimit({ maxSize: LOGIN_BODY_LIMIT }))
  app.post(LOGIN_PATH, async (c) => {
    const json = (c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")
    const fields = await loginFields(c, json)
    const next = safeNext(fields.next)
    if (fields.token === undefined || !tokensEqual(fields.token, options.token)) {
      options.onRefused?.()
      if (json) return refuse(c, 401, "unauthorized", "the token is not right", { "WWW-Authenticate": "Bearer" })
      return loginPage(c, { next, failed: true })
    }
    setSessionCookie(c, options.token)
    c.header("Cache-Control", "no-store")
    c.header(REQUEST_ID_HEADER, newRequestId())
    return json ? c.body(null, 204) : c.redirect(next, 303)
  })
  return app
}

/** A JSON login: read like every other JSON body (nesting limit, 400 naming the field). */
const LoginBody = z.object({ token: z.string().max(4096).optional(), next: z.string().max(4096).optional() })

async function loginFields(c: Context, json: boolean): Promise<{ token?: string; next?: string }> {
  let body: Record<string, unknown> = {}
  if (json) body = await parseJsonBody(c, LoginBody)
  else {
    try {
      body = (await c.req.parseBody()) as Record<string, unknown>
    } catch {
      body = {}
    }
  }
  const text = (value: unknown) => (typeof value === "string" && value.length > 0 ? value : undefined)
  return { token: text(body.token), next: text(body.next) }
}

/** A path on this server to return to, never another site (`//host`, `/\host`, a scheme). */
function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.length > 2048) return "/"
  try {
    const url = new URL(next, "http://server.invalid")
    return url.origin === "http://server.invalid" ? `${url.pathname}${url.search}` : "/"
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
