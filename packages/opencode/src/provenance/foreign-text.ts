/**
 * Strings another writer put in a chain (a remote workspace's own chain, an imported export
 * file) reduced to allow-listed tokens: ids of the spine's shapes, our route templates, codes and
 * names. Free text (an error's excerpt, a path, a secret) never passes: a field that is not a
 * token is dropped, or becomes `unknown` where the shape requires one. This server's own records
 * keep their scrubbed excerpt; another writer's words are not ours to scrub.
 */
import { withProvenance } from "./completeness.ts"
import {
  type ErrorFact,
  type IncidentChain,
  type Origin,
  type OriginInput,
  type RequestRef,
  SessionId,
} from "./schemas.ts"

/** Every route template this server answers (a test keeps it equal to the app's routes). */
export const ROUTE_TEMPLATES: ReadonlySet<string> = new Set([
  "/",
  "/health",
  "/global/health",
  "/event",
  "/session",
  "/session/status",
  "/session/:id",
  "/session/:id/message",
  "/session/:id/prompt",
  "/session/:id/prompt_async",
  "/session/:id/abort",
  "/session/:id/run",
  "/session/:id/incident",
  "/session/:id/export",
  "/instance/reload",
  "/instance/dispose",
  "/global/dispose",
  "/project/git/init",
  "/project/current",
  "/config",
  "/global/config",
  "/diagnostics/renderer",
  "/login",
  "/login/sign-in.js",
  "/app/*",
  "/assets/*",
])

/** The app's page templates an action record names (`/unknown` for any other page); the app's router uses these. */
export const PAGE_TEMPLATES = ["/", "/sessions", "/session/:id", "/session/:id/run/:runId"] as const
export const UNKNOWN_PAGE = "/unknown"

/**
 * A renderer action's page as diagnostics keep it: one of the app's page templates, else the
 * app's own `/unknown`. An upload can name any path-shaped page (a home directory, a key); it is
 * never stored or exported as it came.
 *
 * @example pageTemplate("/session/:id") // "/session/:id"; pageTemplate("/home/me/x") // "/unknown"
 */
export function pageTemplate(page: string): string {
  return isAppPage(page) ? page : UNKNOWN_PAGE
}

/** Whether a page is one the app names: one of its templates, or its own `/unknown`. */
export function isAppPage(page: string): boolean {
  return page === UNKNOWN_PAGE || (PAGE_TEMPLATES as readonly string[]).includes(page)
}

/** The HTTP methods a request record may name. */
export const HTTP_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
const CODE = /^[A-Za-z0-9_.:-]{1,64}$/
const NAME = /^[a-z][a-z0-9_.:]{0,63}$/
const SPINE_ID = /^(?:act|req|lc|run|ins|ses)_[A-Za-z0-9_-]{1,64}$/
const JOURNAL_REF = /^abort_requested:\d{1,16}$/
const WORKSPACE_ID = /^[A-Za-z0-9_-]{1,64}$/
const MESSAGE_ID = /^msg_[A-Za-z0-9_-]{1,60}$/

/** A run of letters and digits as long as a key, mixing both: a credential, never a code or a name. */
function credentialLike(value: string): boolean {
  return (value.match(/[A-Za-z0-9]{16,}/g) ?? []).some((run) => /[0-9]/.test(run) && /[A-Za-z]/.test(run))
}

/**
 * A code or class name (`ECONNRESET`, `ProviderError`, `provider_http_error`), else undefined.
 *
 * @example codeToken("ECONNRESET") // "ECONNRESET"; codeToken("/home/me/.env") // undefined
 */
export function codeToken(value: unknown): string | undefined {
  return typeof value === "string" && CODE.test(value) && !credentialLike(value) ? value : undefined
}

/**
 * A file's session id, kept only in a session id's shape (`ses_…`, the schema's): a file's `id`
 * can be any short string, a key included. Upstream opencode's ids are of this shape too.
 *
 * @example sessionIdToken("ses_fixture2") // "ses_fixture2"; sessionIdToken("sk-live-0123…") // undefined
 */
export function sessionIdToken(value: unknown): string | undefined {
  const parsed = SessionId.safeParse(value)
  return parsed.success ? parsed.data : undefined
}

/**
 * A file's message id, kept only in a message id's shape (`msg_…`), as `sessionIdToken` keeps a
 * session's; a trace keeps a file's ids by these two rules too.
 */
export function messageIdToken(value: unknown): string | undefined {
  return typeof value === "string" && MESSAGE_ID.test(value) ? value : undefined
}

/**
 * A workspace id in its shape (`[A-Za-z0-9_-]`, as the config names one) and no key's: a header
 * or a file can carry any value there, a token included.
 *
 * @example workspaceIdToken("ws_remote") // "ws_remote"; workspaceIdToken("ghp_0a1b2c3d4e5f6a7b8c9d") // undefined
 */
export function workspaceIdToken(value: unknown): string | undefined {
  return typeof value === "string" && WORKSPACE_ID.test(value) && !credentialLike(value) ? value : undefined
}

/** A lowercase dotted name (`origin.request`, `kind:write`, `settle_timeout`), else undefined. */
export function nameToken(value: unknown, max = 64): string | undefined {
  return typeof value === "string" && value.length <= max && NAME.test(value) && !credentialLike(value)
    ? value
    : undefined
}

/** A dotted field path a file used (`diagnostics.runs[].newField`), else undefined: a key can be free text too. */
export function fieldPathToken(value: string): string | undefined {
  return /^[A-Za-z0-9_.[\]]{1,160}$/.test(value) && !credentialLike(value) ? value : undefined
}

/** Another writer's error: its code, class and HTTP status; never its excerpt. */
export function foreignError(error: ErrorFact): ErrorFact {
  const status =
    Number.isInteger(error.status) && error.status! >= 100 && error.status! <= 599 ? { status: error.status! } : {}
  return { code: codeToken(error.code) ?? "unknown", class: codeToken(error.class) ?? "unknown", ...status }
}

/** A request reference whose route is one of our templates and whose method is a method; else none (it reads as missing). */
function foreignRequest(request: RequestRef | undefined): RequestRef | undefined {
  if (!request || !ROUTE_TEMPLATES.has(request.route) || !HTTP_METHODS.has(request.method)) return undefined
  return request
}

/** An origin with only tokens in its free-form fields; a field that is not one is dropped, and so counts as missing. The origin itself when nothing was. */
function foreignOrigin(origin: Origin): Origin {
  const without = (key: string, keep: boolean): Origin => {
    if (keep || !(key in origin)) return origin
    // Its provenance is computed again: the field is missing now.
    const { [key]: _dropped, ...rest } = origin as Record<string, unknown>
    return withProvenance(rest as OriginInput)
  }
  switch (origin.kind) {
    case "api_route":
    case "config_invalidation":
      return without("request", foreignRequest(origin.request) !== undefined)
    case "context_mismatch":
      return without("detectedDuring", foreignRequest(origin.detectedDuring) !== undefined)
    case "server_handler":
      return without("handler", nameToken(origin.handler) !== undefined)
    case "forwarded_remote":
      return without("workspaceId", workspaceIdToken(origin.workspaceId) !== undefined)
    case "unknown":
      return without("closeSite", nameToken(origin.closeSite) !== undefined)
    case "shutdown":
      return origin
  }
}

/**
 * A chain another writer made, with every string that is not a token dropped: the error keeps
 * code, class and status; link refs are spine ids; names, bases and origin kinds are names; the
 * renderer detail is kept only when its page is one of the app's templates. Re-check the verdict
 * afterwards: a dropped request is a missing one.
 */
export function foreignChain(chain: IncidentChain, parsedOrigin: Origin | undefined): IncidentChain {
  const { rendererAction, error, ...rest } = chain
  const names = (list: readonly string[]) => [...new Set(list.flatMap((name) => nameToken(name) ?? []))]
  const kept: IncidentChain = {
    ...rest,
    origin: parsedOrigin ? foreignOrigin(parsedOrigin) : { kind: nameToken(chain.origin.kind, 32) ?? "unknown" },
    links: chain.links.map(({ ref, ...link }) =>
      ref !== undefined && (SPINE_ID.test(ref) || JOURNAL_REF.test(ref)) ? { ...link, ref } : link,
    ),
    missing: names(chain.missing),
    alsoRequestedBy: chain.alsoRequestedBy.map(({ originKind, ...also }) => {
      const kind = nameToken(originKind, 32)
      return kind ? { ...also, originKind: kind } : also
    }),
    retry: { ...chain.retry, basis: names(chain.retry.basis) },
  }
  if (chain.notRecorded) kept.notRecorded = names(chain.notRecorded)
  if (error) kept.error = foreignError(error)
  if (rendererAction && isAppPage(rendererAction.page)) kept.rendererAction = rendererAction
  return kept
}
