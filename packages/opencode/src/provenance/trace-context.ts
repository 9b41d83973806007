/**
 * The `traceparent` header of W3C Trace Context, in one place: parsed where the server records a
 * request, read where a chain becomes spans, written by the app for every request of a user
 * action. Pure and browser-safe: ids come from `crypto.getRandomValues`, a global in browsers and
 * in Node 20.
 */

/** A trace id: 32 lowercase hex digits, not all zero (as a JSON Schema pattern too). */
export const TRACE_ID_PATTERN = "^(?!0{32})[0-9a-f]{32}$"
/** A span (parent) id: 16 lowercase hex digits, not all zero. */
export const SPAN_ID_PATTERN = "^(?!0{16})[0-9a-f]{16}$"

const TRACE_ID = new RegExp(TRACE_ID_PATTERN)
const SPAN_ID = new RegExp(SPAN_ID_PATTERN)
const HEX2 = /^[0-9a-f]{2}$/
/** The length of `00-<32>-<16>-<2>`: version 00 is exactly this, a later version at least this. */
const VERSION_00_LENGTH = 55

interface TraceContext {
  traceId: string
  /** The id of the sender's span: the parent of whatever the receiver does for the request. */
  parentId: string
  /** Two hex digits; `01` is "sampled". */
  flags: string
}

export const isTraceId = (value: unknown): value is string => typeof value === "string" && TRACE_ID.test(value)
export const isSpanId = (value: unknown): value is string => typeof value === "string" && SPAN_ID.test(value)

/**
 * The four fields of a `traceparent` value, or undefined when it is malformed: uppercase hex, a
 * wrong length, version `ff`, an all-zero trace or parent id, version `00` with anything after
 * its flags. A later version may append fields after a `-`; its first four are read as `00`'s.
 *
 * @example parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
 * // { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", parentId: "00f067aa0ba902b7", flags: "01" }
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined || value.length < VERSION_00_LENGTH) return undefined
  const version = value.slice(0, 2)
  if (!HEX2.test(version) || version === "ff") return undefined
  // Version 00 ends at its flags; a later one may go on, after a dash.
  const end = value.length === VERSION_00_LENGTH || (version !== "00" && value[VERSION_00_LENGTH] === "-")
  if (!end || value[2] !== "-" || value[35] !== "-" || value[52] !== "-") return undefined
  const traceId = value.slice(3, 35)
  const parentId = value.slice(36, 52)
  const flags = value.slice(53, VERSION_00_LENGTH)
  if (!isTraceId(traceId) || !isSpanId(parentId) || !HEX2.test(flags)) return undefined
  return { traceId, parentId, flags }
}

/**
 * A version-00 `traceparent` value; flags default to `01` (sampled).
 *
 * @example formatTraceparent({ traceId, parentId: spanId }) // "00-<traceId>-<spanId>-01"
 */
export function formatTraceparent(context: { traceId: string; parentId: string; flags?: string }): string {
  return `00-${context.traceId}-${context.parentId}-${context.flags ?? "01"}`
}

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes)
  // All zero is invalid; 2^-64 at worst, and drawing again is the spec's answer.
  do crypto.getRandomValues(buffer)
  while (buffer.every((byte) => byte === 0))
  let out = ""
  for (const byte of buffer) out += byte.toString(16).padStart(2, "0")
  return out
}

/** @example newTraceId() // "4bf92f3577b34da6a3ce929d0e0e4736" */
export function newTraceId(): string {
  return randomHex(16)
}

/** @example newSpanId() // "00f067aa0ba902b7" */
export function newSpanId(): string {
  return randomHex(8)
}
