/**
 * Requests sent with `x-opencode-workspace: ID` are forwarded to the remote workspace the global
 * config names (`workspaces: { ID: { url } }`). Only the named provenance headers travel with
 * them; the remote's answer is passed back as it is. What the remote does is remote evidence:
 * nothing here attributes a remote interrupt to a local cause.
 */
import type { MiddlewareHandler } from "hono"
import type { Host } from "../host.ts"
import { ApiError } from "./errors.ts"

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

export function workspaceForwarding(host: Host): MiddlewareHandler {
  return async (c, next) => {
    const workspaceId = c.req.header("x-opencode-workspace")
    if (!workspaceId) return next()
    if (!WORKSPACE_ID.test(workspaceId)) throw new ApiError(400, "invalid_workspace", "x-opencode-workspace: expected 1-64 characters of [A-Za-z0-9_-]")
    const workspace = host.globalConfig.read().workspaces?.[workspaceId]
    if (!workspace) throw new ApiError(400, "unknown_workspace", `x-opencode-workspace: no workspace "${workspaceId}" in the global config`)
    const url = new URL(c.req.path + new URL(c.req.url).search, workspace.url)
    const headers = new Headers()
    for (const name of FORWARDED_HEADERS) {
      const value = c.req.header(name)
      if (value) headers.set(name, value)
    }
    headers.set("x-opencode-forwarded-by", host.bootId)
    const requestId = c.get("requestId" as never) as string | undefined
    if (requestId) headers.set("x-opencode-forwarded-request-id", requestId)
    let response: Response
    try {
      response = await fetch(url, {
        method: c.req.method,
        headers,
        ...(c.req.method === "GET" || c.req.method === "HEAD" ? {} : { body: await c.req.arrayBuffer() }),
        signal: c.req.raw.signal,
        redirect: "manual",
      })
    } catch {
      throw new ApiError(502, "workspace_unreachable", `workspace "${workspaceId}" did not answer`)
    }
    const out = new Headers()
    for (const name of ["content-type", "cache-control", "x-opencode-request-id", "x-opencode-lifecycle-id"]) {
      const value = response.headers.get(name)
      if (value) out.set(name === "x-opencode-request-id" ? "x-opencode-remote-request-id" : name, value)
    }
    return new Response(response.body, { status: response.status, headers: out })
  }
}
