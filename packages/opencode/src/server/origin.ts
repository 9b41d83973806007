/**
 * Origins built at the route boundary: the only place request context is read, and the only
 * place it can be (it lives on the request's Hono context). Every other caller of a lifecycle
 * operation builds its own origin.
 */
import type { Context } from "hono"
import type { OriginInput, RequestRef } from "../provenance/schemas.ts"
import { requestContextOf, requestRef } from "./middleware/request-context.ts"

/**
 * The `api_route` origin of the request `c`. Without the request-context middleware it has no
 * `request`, which the completeness function reports as missing, never as complete.
 *
 * @example await instances.reload(key, apiRouteOrigin(c))
 */
export function apiRouteOrigin(c: Context): OriginInput {
  const request = requestContextOf(c)
  return request ? { kind: "api_route", request: requestRef(request) } : { kind: "api_route" }
}

/** The compact copy of the request `c`, for origins that link it (config writes, load's occasion). */
export function requestRefOf(c: Context): RequestRef | undefined {
  const request = requestContextOf(c)
  return request ? requestRef(request) : undefined
}
