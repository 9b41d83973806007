/**
 * Requests the server answers in memory (`ServerCore.request`): the same app, no socket. They
 * carry this mark in their Hono env, which only code in this process can set (no header or body
 * reaches it), and the checks that read the socket treat a marked request as the server's own
 * user on loopback. A request with neither a socket nor the mark is refused by them.
 */
import type { Context } from "hono"

const IN_MEMORY = Symbol("opencode.in-memory")

/** The env `app.fetch(request, env)` is given for an in-memory request. */
export function inMemoryEnv(): { readonly [IN_MEMORY]: true } {
  return { [IN_MEMORY]: true }
}

/** Whether `c` came through `ServerCore.request` rather than a socket. */
export function isInMemory(c: Context): boolean {
  return (c.env as Record<symbol, unknown> | undefined)?.[IN_MEMORY] === true
}
