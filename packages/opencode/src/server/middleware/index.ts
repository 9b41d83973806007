/** The server's middlewares, one per file; see each file for why it exists. */
export { auth, sessionCookieName, sessionCookieValue, setSessionCookie, tokensEqual, type AuthOptions } from "./auth.ts"
export { BodyBudget, DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT, requestBodyLimit, type RequestBodyLimitOptions } from "./body-limit.ts"
export { hostnameOf, hostOrigin, isLoopbackHostname, noFraming, type HostOriginOptions } from "./host-origin.ts"
export { newRefusalCounts, refuse, type RefusalCounts, type RefusalKind } from "./refusal.ts"
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
