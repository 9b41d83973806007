/**
 * Requests sent with `x-opencode-workspace: ID` are forwarded to the remote workspace the global
 * config names (`workspaces: { ID: { url } }`). Only the named provenance headers travel with
 * them; the remote's answer is passed back as it is. What the remote does is remote evidence:
 * nothing here attributes a remote interrupt to a local cause.
 */
import type { MiddlewareHandler } from "hono"
import type { Host } from "../host.ts"
import { ApiError } from "./errors.ts"
import { forgetWorkspace, requestIdOf } from "./middleware/request-context.ts"
import { RemoteRunWatch } from "./remote-run-watch.ts"

/** Headers a forwarded request carries; everything else (cookies, auth, host) stays here. */
const FORWARDED_HEADERS = [
  "content-type",
  "accept",
  "last-event-id",
  "x-opencode-directory",
  "x-opencode-client",
  "x-opencode-action-id",
  "x-opencode-action-name",
  "traceparent",
]
const WORKSPACE_ID = /^[A-Za-z0-9_-]{1,64}$/
/** Forwarded routes that start a run there: the run is followed so its end is recorded here. */
const RUN_ROUTE = /^\/session\/(ses_[A-Za-z0-9_-]{1,64})\/(prompt|prompt_async|message)$/
const WATCH_READY_MS = 3000

export function workspaceForwarding(host: Host): MiddlewareHandler {
  return async (c, next) => {
    // Our own forwarded request came back: a workspace URL points at this server. Served here,
    // its run would be recorded twice and a local close would read as a remote interrupt.
    if (c.req.header("x-opencode-forwarded-by") === host.bootId) {
      throw new ApiError(
        409,
        "forwarding_loop",
        "x-opencode-forwarded-by: this request was forwarded by this same server; a workspace URL in the global config points back at it",
      )
    }
    const workspaceId = c.req.header("x-opencode-workspace")
    if (!workspaceId) return next()
    if (!WORKSPACE_ID.test(workspaceId))
      throw new ApiError(400, "invalid_workspace", "x-opencode-workspace: expected 1-64 characters of [A-Za-z0-9_-]")
    const workspace = (await host.globalConfig.read()).workspaces?.[workspaceId]
    if (!workspace) {
      // The request's record keeps only a workspace the config names, never a value a client made up.
      forgetWorkspace(c)
      throw new ApiError(400, "unknown_workspace", "x-opencode-workspace: no such workspace in the global config")
    }
    const url = forwardUrl(workspace.url, c.req.url)
    const headers = new Headers()
    for (const name of FORWARDED_HEADERS) {
      const value = c.req.header(name)
      if (value) headers.set(name, value)
    }
    headers.set("x-opencode-forwarded-by", host.bootId)
    const requestId = requestIdOf(c)
    if (requestId) headers.set("x-opencode-forwarded-request-id", requestId)
    const runRoute = c.req.method === "POST" ? RUN_ROUTE.exec(c.req.path) : null
    const body = c.req.method === "GET" || c.req.method === "HEAD" ? undefined : await c.req.arrayBuffer()
    const watch = runRoute
      ? new RemoteRunWatch(host, {
          workspaceId,
          baseUrl: url.origin,
          sessionId: runRoute[1]!,
          directoryHeader: c.req.header("x-opencode-directory"),
          directoryQuery: c.req.query("directory"),
          model: modelOf(body),
        })
      : undefined
    if (watch) await Promise.race([watch.ready, new Promise((resolve) => setTimeout(resolve, WATCH_READY_MS))])
    let response: Response
    try {
      response = await fetch(url, {
        method: c.req.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: c.req.raw.signal,
        redirect: "manual",
      })
    } catch {
      watch?.cancel()
      throw new ApiError(502, "workspace_unreachable", `workspace "${workspaceId}" did not answer`)
    }
    if (response.status === 409 && (await loopRefusal(response))) {
      watch?.cancel()
      throw new ApiError(
        409,
        "forwarding_loop",
        // The URL's origin only: the configured URL may carry a user and password (SECURITY.md row 20).
        `x-opencode-workspace: workspace "${workspaceId}" points back at this server (${url.origin}); nothing was forwarded`,
      )
    }
    let answer: ReadableStream<Uint8Array> | string | null = response.body
    if (watch) {
      if (!response.ok) watch.cancel()
      else if (runRoute![2] === "prompt") {
        const text = await response.text()
        answer = text
        watch.forwarded(runIdOf(text))
      } else watch.forwarded(undefined)
    }
    const out = new Headers()
    for (const name of ["content-type", "cache-control", "x-opencode-request-id", "x-opencode-lifecycle-id"]) {
      const value = response.headers.get(name)
      if (value) out.set(name === "x-opencode-request-id" ? "x-opencode-remote-request-id" : name, value)
    }
    return new Response(answer, { status: response.status, headers: out })
  }
}

/**
 * The remote URL of a request: its path and query on the workspace URL's origin. The path is
 * never parsed as a URL of its own, so `//other-host/x` stays a path on the workspace.
 */
function forwardUrl(workspaceUrl: string, requestUrl: string): URL {
  const incoming = new URL(requestUrl)
  const url = new URL(new URL(workspaceUrl).origin)
  url.pathname = incoming.pathname
  url.search = incoming.search
  return url
}

/** Whether a 409 is the target refusing our own request as a forwarding loop (its body is read only then). */
async function loopRefusal(response: Response): Promise<boolean> {
  if (!response.headers.get("content-type")?.includes("application/json")) return false
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } }
    return body.error?.code === "forwarding_loop"
  } catch {
    return false
  }
}

function runIdOf(text: string): string | undefined {
  try {
    const runId = (JSON.parse(text) as { runId?: unknown }).runId
    return typeof runId === "string" && /^run_[A-Za-z0-9_-]{1,64}$/.test(runId) ? runId : undefined
  } catch {
    return undefined
  }
}

/** The model a forwarded prompt names (ours: `"scripted/slow"`; opencode's: `{ providerID, modelID }`), for the local record. */
function modelOf(body: ArrayBuffer | undefined): string | undefined {
  if (!body || body.byteLength > 1024 * 1024) return undefined
  try {
    const model = (JSON.parse(new TextDecoder().decode(body)) as { model?: unknown }).model
    if (typeof model === "string" && /^[A-Za-z0-9_.:/-]{1,128}$/.test(model)) return model
    if (model && typeof model === "object") {
      const { providerID, modelID } = model as { providerID?: unknown; modelID?: unknown }
      const ref = `${String(providerID)}/${String(modelID)}`
      if (typeof providerID === "string" && typeof modelID === "string" && /^[A-Za-z0-9_.:/-]{1,128}$/.test(ref))
        return ref
    }
  } catch {
    // Not JSON: the remote answers that; the local record keeps "remote/unknown".
  }
  return undefined
}
