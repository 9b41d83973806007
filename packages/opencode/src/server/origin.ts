/**
 * Origins built at the route boundary: the only place request context is read. Every other
 * caller of a lifecycle operation builds its own origin.
 */
import type { OriginInput } from "../provenance/schemas.ts"
import { currentRequest, requestRef } from "./middleware/request-context.ts"

/**
 * The `api_route` origin of the request being handled. Outside a request it has no `request`,
 * which the completeness function reports as missing, never as complete.
 *
 * @example await instances.reload(directory, key, apiRouteOrigin())
 */
export function apiRouteOrigin(): OriginInput {
  const request = currentRequest()
  return request ? { kind: "api_route", request: requestRef(request) } : { kind: "api_route" }
}

/** The compact copy of the current request, for origins that link it (config writes, load's occasion). */
export function currentRequestRef() {
  const request = currentRequest()
  return request ? requestRef(request) : undefined
}
