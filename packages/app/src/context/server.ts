/**
 * The one module that talks to the server over HTTP. Every other file goes through
 * `ServerConnection.request` (a test fails when another file under src/ calls fetch), so the
 * headers the server relies on for provenance are set in exactly one place:
 *
 * - `x-opencode-directory`: the selected project directory, percent-encoded;
 * - `Authorization: Bearer …` only when a caller hands the connection a token (the server's
 *   page relies on its HttpOnly session cookie, which the browser sends);
 * - `x-opencode-client: app/<version>` on every request;
 * - `x-opencode-action-id` / `x-opencode-action-name` and `traceparent` only when the request
 *   carries an `ActionStamp`, which only `runAction` (context/client-action.tsx) creates: every
 *   request of an action names the action's W3C trace and its root span as the parent, so the
 *   server's span for the request is a child of the click's.
 *
 * Two paths, decided here: user-visible actions that change server state go through
 * `runAction` and carry the action headers; data reads (lists, messages, runs, config, the
 * diagnostics export the panel shows) and the background upload of the action log are plain
 * app requests with no action headers. A read never initiates a lifecycle operation on its own
 * behalf (a `load` that reloads on a context mismatch names the request as the occasion, not
 * the initiator), so no renderer action is owed for it.
 */
import { formatTraceparent } from "opencode/provenance"
import type { z } from "zod"

const APP_VERSION = "0.1.0"
export const CLIENT_HEADER_VALUE = `app/${APP_VERSION}`
/** Where an earlier version kept a token taken from the address bar; cleared on start. */
const LEGACY_TOKEN_STORAGE_KEY = "opencode.token"
const SIGN_IN_FRAGMENT = /(?:^#|&)(?:code|token)=/
const REQUEST_ID = /^req_[A-Za-z0-9_-]{1,64}$/

/** The provenance headers of one renderer action. */
export interface ActionStamp {
  actionId: string
  name: string
  /** The W3C trace the action started, and the action's own (root) span in it. */
  traceId: string
  spanId: string
}

export interface RequestOptions<T> {
  body?: unknown
  /** Present only for requests made inside `runAction`. */
  action?: ActionStamp
  /** Parses the JSON answer at the boundary; without it the answer is `unknown`. */
  schema?: z.ZodType<T>
  /** Query string parameters. */
  query?: Record<string, string | undefined>
  /** Another project directory than the selected one (the confirmation counts runs in each). */
  directory?: string
  /** Extra request headers (`if-match` for a config save). */
  headers?: Record<string, string>
}

export interface ServerResponse<T> {
  data: T
  status: number
  /** The server's `x-opencode-request-id` for this request, when it sent a well-formed one. */
  requestId?: string
  /** The `ETag` the server answered (the config file's digest). */
  etag?: string
}

/**
 * A request that failed: a 4xx/5xx answer, with the server's `{ error: { code, message } }` when
 * it sent one; `server_unreachable` (status 0: no answer at all); `answer_cut_short` (the status
 * the server sent, then a body that ended before it was complete).
 */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    /** The `ETag` of the refusal, when it named one (a 412 names the file's current digest). */
    readonly etag?: string,
  ) {
    super(message)
    this.name = "ServerError"
  }
}

export interface ServerConnection {
  readonly baseUrl: string
  token(): string | undefined
  directory(): string | undefined
  request<T = unknown>(method: string, path: string, options?: RequestOptions<T>): Promise<ServerResponse<T>>
  /**
   * The URL of the event stream. EventSource cannot send headers, so the directory and the token
   * travel as `?directory=` and `?token=`; the server accepts `?token=` on `/event` only.
   */
  eventUrl(): string
}

interface ConnectionOptions {
  baseUrl?: string
  token?: () => string | undefined
  directory: () => string | undefined
  /** Injected by tests; defaults to the browser's. */
  fetchImpl?: typeof globalThis.fetch
  /** Called with every response's request id, stamped or not. */
  onResponse?: (info: { action?: ActionStamp; requestId?: string; status: number }) => void
}

/**
 * @example
 *   const server = createServerConnection({ directory: () => project.directory() })
 *   const { data } = await server.request("GET", "/session", { schema: SessionList })
 */
export function createServerConnection(options: ConnectionOptions): ServerConnection {
  const baseUrl = (options.baseUrl ?? window.location.origin).replace(/\/+$/, "")
  const token = options.token ?? (() => undefined)
  const send = options.fetchImpl ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init))
  // A sign-in code that reached a signed-in app is spent (for a fresh cookie), so it cannot be
  // replayed from the browser's history; failing changes nothing, the cookie already works.
  const code = options.token ? undefined : takeSignInFragment()

  async function request<T>(method: string, path: string, opts: RequestOptions<T> = {}): Promise<ServerResponse<T>> {
    const headers = {
      ...opts.headers,
      ...requestHeaders({ directory: opts.directory ?? options.directory(), token: token(), action: opts.action }),
    }
    const init: RequestInit = { method, headers }
    if (opts.body !== undefined) {
      headers["content-type"] = "application/json"
      init.body = JSON.stringify(opts.body)
    }
    let response: Response
    try {
      response = await send(urlFor(baseUrl, path, opts.query), init)
    } catch {
      // The browser's own words ("Failed to fetch") say nothing to a person: the server is down.
      throw new ServerError(0, "server_unreachable", "The server is not answering (it may be stopped or restarting).")
    }
    const headerId = response.headers.get("x-opencode-request-id") ?? undefined
    const requestId = headerId && REQUEST_ID.test(headerId) ? headerId : undefined
    const etag = response.headers.get("etag") ?? undefined
    options.onResponse?.({ action: opts.action, requestId, status: response.status })
    let text: string
    try {
      text = await response.text()
    } catch {
      // A body cut short: the server stopped writing a long answer (the data dir failed mid-way) or went away.
      // The status it did send is kept: this is not a server that never answered (status 0).
      throw new ServerError(
        response.status,
        "answer_cut_short",
        `${method} ${path}: the server stopped before the answer was complete`,
        requestId,
      )
    }
    let json: unknown = undefined
    if (text.length > 0) {
      try {
        json = JSON.parse(text)
      } catch {
        if (response.ok)
          throw new ServerError(
            response.status,
            "invalid_json",
            `${method} ${path} answered something that is not JSON`,
            requestId,
          )
      }
    }
    if (!response.ok) {
      const error = errorBody(json)
      throw new ServerError(
        response.status,
        error?.code ?? `http_${response.status}`,
        error?.message ?? `${method} ${path} failed with ${response.status}`,
        requestId,
        etag,
      )
    }
    if (!opts.schema) return { data: json as T, status: response.status, requestId, ...(etag ? { etag } : {}) }
    const parsed = opts.schema.safeParse(json)
    if (!parsed.success) {
      throw new ServerError(
        response.status,
        "unexpected_shape",
        `${method} ${path} answered an unexpected shape: ${parsed.error.issues[0]?.path.join(".") || "root"} ${parsed.error.issues[0]?.message ?? ""}`.trim(),
        requestId,
      )
    }
    return { data: parsed.data, status: response.status, requestId, ...(etag ? { etag } : {}) }
  }

  if (code) void request("POST", "/login", { body: { code } }).catch(() => {})

  return {
    baseUrl,
    token,
    directory: options.directory,
    request,
    eventUrl() {
      return urlFor(baseUrl, "/event", { directory: options.directory(), token: token() })
    },
  }
}

/**
 * An error as words that read on after "… failed: " (a sentence's capital dropped; ids and
 * acronyms keep their case).
 *
 * @example plainError(new Error("The server is not answering")) // "the server is not answering"
 */
export function plainError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text
}

/** The headers every request carries, plus the action headers and `traceparent` when it is stamped. */
export function requestHeaders(input: {
  directory?: string
  token?: string
  action?: ActionStamp
}): Record<string, string> {
  const headers: Record<string, string> = { accept: "application/json", "x-opencode-client": CLIENT_HEADER_VALUE }
  if (input.directory) headers["x-opencode-directory"] = encodeURIComponent(input.directory)
  if (input.token) headers.authorization = `Bearer ${input.token}`
  if (input.action) {
    headers["x-opencode-action-id"] = input.action.actionId
    headers["x-opencode-action-name"] = input.action.name
    headers.traceparent = formatTraceparent({ traceId: input.action.traceId, parentId: input.action.spanId })
  }
  return headers
}

function urlFor(baseUrl: string, path: string, query?: Record<string, string | undefined>): string {
  const url = new URL(path, `${baseUrl}/`)
  for (const [key, value] of Object.entries(query ?? {}))
    if (value !== undefined && value !== "") url.searchParams.set(key, value)
  return url.toString()
}

function errorBody(json: unknown): { code?: string; message?: string } | undefined {
  if (typeof json !== "object" || json === null || !("error" in json)) return undefined
  const error = (json as { error: unknown }).error
  if (typeof error !== "object" || error === null) return undefined
  const { code, message } = error as { code?: unknown; message?: unknown }
  return {
    code: typeof code === "string" ? code : undefined,
    message: typeof message === "string" ? message : undefined,
  }
}

/**
 * Takes sign-in fragments out of the address bar. The server's page is only served to a browser
 * holding the HttpOnly session cookie, which rides on every same-origin request and on the event
 * stream, so the app never holds the token: a `#token=` fragment (an old link) is removed
 * unused, and a token an earlier version kept in sessionStorage is forgotten. A one-time
 * `#code=` (the printed sign-in link opened while signed in) is returned, to be spent.
 */
export function takeSignInFragment(
  doc: Document = document,
  storage: Storage | undefined = safeSessionStorage(),
): string | undefined {
  storage?.removeItem(LEGACY_TOKEN_STORAGE_KEY)
  const location = doc.defaultView?.location
  const hash = location?.hash ?? ""
  if (!SIGN_IN_FRAGMENT.test(hash)) return undefined
  const code = /(?:^#|&)code=([A-Za-z0-9_-]{1,256})(?:&|$)/.exec(hash)?.[1]
  const rest = hash
    .replace(/^#/, "")
    .split("&")
    .filter((part) => !/^(?:code|token)=/.test(part))
    .join("&")
  doc.defaultView?.history.replaceState(null, "", `${location!.pathname}${location!.search}${rest ? `#${rest}` : ""}`)
  return code
}

/** `<meta name="opencode-default-directory">`, the directory the server was started in. */
export function defaultDirectory(doc: Document = document): string | undefined {
  return doc.querySelector<HTMLMetaElement>('meta[name="opencode-default-directory"]')?.content?.trim() || undefined
}

function safeSessionStorage(): Storage | undefined {
  try {
    return window.sessionStorage
  } catch {
    return undefined
  }
}
