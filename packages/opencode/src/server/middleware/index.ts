/** The server's middlewares, one per file; see each file for why it exists. */
export { auth, tokensEqual, type AuthOptions } from "./auth.ts"
export { DEFAULT_BODY_LIMIT, requestBodyLimit, type RequestBodyLimitOptions } from "./body-limit.ts"
export { hostnameOf, hostOrigin, isLoopbackHostname, type HostOriginOptions } from "./host-origin.ts"
export {
  newRequestId,
  REQUEST_ID_HEADER,
  requestContext,
  requestContextOf,
  requestIdOf,
  requestRef,
  UNMATCHED_ROUTE,
  type RequestContextOptions,
  type RequestContextVariables,
} from "./request-context.ts"
