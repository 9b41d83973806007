/** The server's middlewares, one per file; see each file for why it exists. */
export { auth, SessionCookies, tokenRefusal, tokensEqual, type AuthOptions } from "./auth.ts"
export { AuthFailures } from "./auth-failures.ts"
export { BodyBudget, DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT, requestBodyLimit } from "./body-limit.ts"
export { hostnameOf, hostOrigin, isLoopbackHostname, noFraming, type HostOriginOptions } from "./host-origin.ts"
export { peerUserMode, sameUser, type PeerUserMode } from "./same-user.ts"
export { newRefusalCounts } from "./refusal.ts"
export {
  requestContext,
  requestContextOf,
  requestRef,
  UNMATCHED_ROUTE,
  type RequestContextOptions,
  type RequestContextVariables,
} from "./request-context.ts"
