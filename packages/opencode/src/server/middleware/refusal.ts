/**
 * Refusals (another user's connection, a foreign Host or Origin, a missing token) run before anything else: a refused
 * request must cost nothing and leave no trace but a counter. It gets no sequence number, no
 * request record and no directory lookup; its answer still carries a request id, as every
 * response does, though nothing is recorded under it.
 */
import type { Context } from "hono"
import type { ContentfulStatusCode } from "hono/utils/http-status"
import { errorBody } from "../errors.ts"
import { newRequestId, REQUEST_ID_HEADER } from "./request-context.ts"

type RefusalKind = "user" | "host" | "origin" | "auth"

/** How many requests were refused since start, by reason (shown in `/health`). */
type RefusalCounts = Record<RefusalKind, number>

export function newRefusalCounts(): RefusalCounts {
  return { user: 0, host: 0, origin: 0, auth: 0 }
}

/**
 * The `{ error: { code, message } }` answer of a refusal, with a fresh request id.
 *
 * @example return refuse(c, 403, "forbidden_host", "Host is not this server")
 */
export function refuse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return c.json(errorBody(code, message), status, { [REQUEST_ID_HEADER]: newRequestId(), ...headers })
}
