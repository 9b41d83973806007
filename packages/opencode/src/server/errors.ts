/**
 * The server's one error shape, `{ error: { code, message } }`, and the handlers that make
 * every failure take it: bad input is a 400 naming the field, a refused request a 4xx with a
 * stable code, and anything unexpected a 500 that names the request id but never a stack or a
 * raw message (those can carry paths, prompts or secrets).
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono"
import { HTTPException } from "hono/http-exception"
import type { z } from "zod"
import { ApiError } from "../api-error.ts"
import { InvalidDirectoryError } from "../project/directory-key.ts"
import { cutText } from "../provenance/plain-text.ts"
import { FileRefusal, type FileRefusalCode } from "../regular-file.ts"
import { scrubSecrets } from "../provenance/secret-rules.ts"
import type { ErrorBody } from "../provenance/wire.ts"
import { isStorageFault, storageFaultName } from "../storage/database.ts"
import { requestIdOf } from "./middleware/request-context.ts"

export { ApiError }

/**
 * The data dir refused a write (full, locked, read-only, failing): `503 storage_unavailable`
 * with the degraded state (`storage_full`, ...), so a client can tell a server that cannot keep
 * its record from one that broke.
 *
 * @example throw new StorageUnavailableError(host.degraded)
 */
export class StorageUnavailableError extends ApiError {
  constructor(readonly degraded: string[]) {
    super(
      503,
      "storage_unavailable",
      `the data dir refused the write (${degraded.join(", ") || "storage_error"}); see /health and try again`,
    )
    this.name = "StorageUnavailableError"
  }
}

/**
 * The JSON body of every error response.
 *
 * @example c.json(errorBody("not_found", "no such session"), 404)
 */
export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } }
}

const MAX_MESSAGE = 300

/** Wrappers whose inner schema decides the fields below them. */
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"])

/**
 * An issue's path as the schema names it: a field the schema declares by its name, an array
 * index by its number, and a key the client chose (a record's, a catch-all's) as `<key>`, since
 * a key is input and a 400 never echoes input.
 */
function schemaPath(schema: z.core.$ZodType | undefined, path: readonly PropertyKey[]): string {
  const names: string[] = []
  let current = schema
  for (const segment of path) {
    while (current && WRAPPERS.has(current._zod.def.type))
      current = (current._zod.def as { innerType?: z.core.$ZodType }).innerType
    if (current?._zod.def.type === "pipe") current = (current._zod.def as unknown as { in: z.core.$ZodType }).in
    const def = current?._zod.def as
      | {
          type?: string
          shape?: Record<string, z.core.$ZodType>
          catchall?: z.core.$ZodType
          valueType?: z.core.$ZodType
          element?: z.core.$ZodType
        }
      | undefined
    if (typeof segment === "number") {
      names.push(String(segment))
      current = def?.type === "array" ? def.element : undefined
    } else if (
      def?.type === "object" &&
      typeof segment === "string" &&
      def.shape &&
      Object.hasOwn(def.shape, segment)
    ) {
      names.push(segment)
      current = def.shape[segment]
    } else {
      names.push("<key>")
      current = def?.type === "record" ? def.valueType : def?.type === "object" ? def.catchall : undefined
    }
  }
  return names.length ? names.join(".") : "body"
}

/** zod's words for the issues whose default message quotes a key the client sent. */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown field${issue.keys.length === 1 ? "" : "s"}`
  if (issue.code === "invalid_key") return `invalid key (${issue.issues.map(issueMessage).join("; ")})`
  // zod 4 prefixes type mismatches with "Invalid input: "; the field path already says that.
  return issue.message.replace(/^Invalid input: /, "")
}

function issueText(schema: z.core.$ZodType, issue: z.core.$ZodIssue): string {
  return `${schemaPath(schema, issue.path)}: ${issueMessage(issue)}`
}

/**
 * Parses already-decoded input (a JSON body, query params) with a zod schema, or throws a 400
 * `ApiError` whose message names the failing fields, e.g. `text: expected string, received number`.
 * Zod's default messages name types, not values, and a key the client chose is shown as `<key>`,
 * so input is not echoed back.
 *
 * @example const query = parseInput(z.object({ content: z.enum(["full", "diagnostics"]).optional() }), c.req.query(), "invalid_query")
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, code = "invalid_body"): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issues = result.error.issues
  let message = issues
    .slice(0, 3)
    .map((issue) => issueText(schema, issue))
    .join("; ")
  if (issues.length > 3) message += `; and ${issues.length - 3} more`
  message = cutText(message, MAX_MESSAGE, "units")
  throw new ApiError(400, code, message)
}

/**
 * Reads the request body as JSON and parses it with `schema`. An empty body is read as `{}`
 * (so a schema of optional fields accepts a bodiless POST); invalid JSON is `400 invalid_json`;
 * a schema failure is `400 invalid_body` naming the field.
 *
 * @example const { text } = await parseJsonBody(c, z.object({ text: z.string() }))
 */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text()
  let value: unknown = {}
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text)
    } catch {
      throw new ApiError(400, "invalid_json", "request body is not valid JSON")
    }
  }
  if (nestingExceeds(value, MAX_JSON_DEPTH)) {
    throw new ApiError(400, "invalid_body", `body: nested deeper than ${MAX_JSON_DEPTH} levels`)
  }
  return parseInput(schema, value)
}

/** How deep a JSON body may nest. Deeper values overflow the stack of whatever walks them next (a schema, JSON.stringify). */
const MAX_JSON_DEPTH = 64

/** Whether `value` nests arrays/objects deeper than `limit` (walked without recursion, stopping at the first too-deep value). */
function nestingExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (current === null || typeof current !== "object") continue
    if (depth >= limit) return true
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1])
    }
  }
  return false
}

/** A file a route reads (a config) that is not a regular file of a readable size: the error codes. */
const FILE_REFUSAL_CODES: Record<FileRefusalCode, string> = {
  not_found: "file_not_found",
  not_regular_file: "not_regular_file",
  too_large: "file_too_large",
  unreadable: "file_unreadable",
}

/** Codes for the statuses Hono's own middlewares throw as `HTTPException`. */
const HTTP_CODES: Partial<Record<number, string>> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  408: "request_timeout",
  413: "body_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
}

const HTTP_MESSAGES: Partial<Record<number, string>> = {
  401: "missing or invalid bearer token",
  413: "request body too large",
}

const SECRET_ENV = ["OPENAI_API_KEY", "OPENCODE_SERVER_TOKEN"]

/**
 * An error as text for this machine's log, with secrets replaced by `[redacted:KIND]`: the
 * configured secrets themselves and every shape of the one secret table. Logs get copied into
 * bug reports; a stack is useful there, a key is not.
 *
 * @example console.error(scrubForLog(err))
 */
export function scrubForLog(err: unknown, env: Record<string, string | undefined> = process.env): string {
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err)
  return scrubSecrets(
    text,
    SECRET_ENV.map((name) => ({ value: env[name], kind: name.toLowerCase() })),
  )
}

function internalError(c: Context, err: unknown): Response {
  const requestId = requestIdOf(c)
  // The error stays on this machine's stderr, keyed by the id the client was given, secrets scrubbed.
  console.error(`[${requestId ?? "no request id"}] internal error: ${scrubForLog(err)}`)
  const message = requestId ? `internal error (request ${requestId})` : "internal error"
  return c.json(errorBody("internal_error", message), 500)
}

/**
 * `app.onError` handler: a storage fault → 503 `storage_unavailable` with `degraded`; `ApiError`
 * → its status and code; an invalid directory → 400 `invalid_directory`; a file that is not a
 * regular file (a config that is a named pipe) → 400 `not_regular_file`; a Hono `HTTPException` → its status (413 → `body_too_large`); anything
 * else → 500 `internal_error` naming the request id only.
 *
 * @example app.onError(handleError)
 */
export const handleError: ErrorHandler = (err, c) => {
  // The client hung up before its body arrived: its input is at fault, not the server, and no one reads the answer.
  if (isClientAbort(err)) return c.json(errorBody("invalid_body", "the request body ended before it was complete"), 400)
  // The disk is full, locked by another process or read-only: the server is fine, the write is not.
  const storage =
    err instanceof StorageUnavailableError
      ? err
      : isStorageFault(err)
        ? new StorageUnavailableError([storageFaultName(err)])
        : undefined
  if (storage)
    return c.json({ error: { code: storage.code, message: storage.message, degraded: storage.degraded } }, 503)
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status)
  if (err instanceof InvalidDirectoryError) return c.json(errorBody(err.code, err.message), 400)
  // The message names the file by its name and says what it is; the server never waited on it.
  if (err instanceof FileRefusal)
    return c.json(
      errorBody(FILE_REFUSAL_CODES[err.code], `${err.message}; the server reads only a regular file there`),
      400,
    )
  if (err instanceof HTTPException) {
    const status = err.status
    if (status >= 500 || status < 400) return internalError(c, err)
    const code = HTTP_CODES[status] ?? "request_refused"
    // Hono's messages are ours or its own, never user input; still bounded.
    const message =
      HTTP_MESSAGES[status] ?? (err.message ? cutText(err.message, MAX_MESSAGE, "units") : code.replace(/_/g, " "))
    const headers = status === 401 ? { "WWW-Authenticate": "Bearer" } : undefined
    return c.json(errorBody(code, message), status, headers)
  }
  return internalError(c, err)
}

/** Node's error for a request whose connection closed mid-body (`ECONNRESET`, "aborted"), as thrown or as a body read's cause. */
function isClientAbort(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === "ECONNRESET" && e.message === "aborted") return true
  }
  return false
}

/**
 * `app.notFound` handler: `404 not_found` in the common error shape.
 *
 * @example app.notFound(handleNotFound)
 */
export const handleNotFound: NotFoundHandler = (c) => c.json(errorBody("not_found", "no such route"), 404)
