/**
 * An error a route means to answer with: its status, a stable machine code and a message safe
 * to show the client (`server/errors.ts` turns it into the error body). Outside server/ so a
 * store can refuse with one (the instance store's `too_many_instances`) without importing the
 * server.
 */
import type { ClientErrorStatusCode, ServerErrorStatusCode } from "hono/utils/http-status"

type ErrorStatus = ClientErrorStatusCode | ServerErrorStatusCode

/**
 * @example throw new ApiError(409, "run_active", "a run is already active in this session")
 */
export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = "ApiError"
  }
}
