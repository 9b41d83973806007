/** The server's middlewares, one per file; see each file for why it exists. */
export {
  auth,
  MIN_TOKEN_LENGTH,
  SessionCookies,
  sessionCookieName,
  tokenRefusal,
  tokensEqual,
  type AuthOptions,
} from "./auth.ts"
export { AuthFailures, clientAddress, tooManyAttempts, type AuthFailureOptions } from "./auth-failures.ts"
export {
  BodyBudget,
  DEFAULT_BODY_BUDGET,
  DEFAULT_BODY_LIMIT,
  requestBodyLimit,
  type RequestBodyLimitOptions,
} from "./body-limit.ts"
export {
  hostnameOf,
  hostOrigin,
  isLoopbackHostname,
  noFraming,
  PAGE_POLICY_HEADERS,
  type HostOriginOptions,
} from "./host-origin.ts"
export {
  allowOtherUsersFromEnv,
  peerOwner,
  peerUserMode,
  peerUserModeLine,
  sameUser,
  type PeerUserMode,
  type SameUserOptions,
} from "./same-user.ts"
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
