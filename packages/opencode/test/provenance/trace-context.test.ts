/**
 * `traceparent` per W3C Trace Context: the spec's valid and invalid values, the version-00 form
 * written back, and random ids that are well-formed and differ.
 */
import { describe, expect, test } from "vitest"
import {
  formatTraceparent,
  isSpanId,
  isTraceId,
  newSpanId,
  newTraceId,
  parseTraceparent,
} from "../../src/provenance/trace-context.ts"
import { SpanId, TraceId } from "../../src/provenance/schemas.ts"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const PARENT = "00f067aa0ba902b7"
const VALID = `00-${TRACE}-${PARENT}-01`

describe("parseTraceparent", () => {
  test("the spec's example: its trace id, parent id and flags", () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: PARENT, flags: "01" })
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: "00" })
  })

  test.each([
    ["uppercase hex", VALID.toUpperCase()],
    ["an uppercase trace id only", `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`],
    ["an all-zero parent id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["version ff", `ff-${TRACE}-${PARENT}-01`],
    ["a version that is not hex", `0g-${TRACE}-${PARENT}-01`],
    ["a short trace id", `00-${TRACE.slice(1)}-${PARENT}-01`],
    ["a long parent id", `00-${TRACE}-${PARENT}0-01`],
    ["a short value", VALID.slice(0, -1)],
    ["flags of one digit", `00-${TRACE}-${PARENT}-1`],
    ["flags that are not hex", `00-${TRACE}-${PARENT}-0z`],
    ["uppercase flags", `00-${TRACE}-${PARENT}-0A`],
    ["version 00 with a field after the flags", `${VALID}-what`],
    ["version 00 with a character after the flags", `${VALID}x`],
    ["a later version whose extra part does not start with a dash", `01-${TRACE}-${PARENT}-01x`],
    ["other separators", `00_${TRACE}_${PARENT}_01`],
    ["empty", ""],
  ])("%s is invalid", (_why, value) => {
    expect(parseTraceparent(value)).toBeUndefined()
  })

  test("a later version is read by its first four fields, with or without more after them", () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`)).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      flags: "01",
    })
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-09`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: "09" })
  })

  test("absent is absent", () => {
    expect(parseTraceparent(undefined)).toBeUndefined()
  })
})

describe("formatTraceparent", () => {
  test("writes version 00, sampled unless told, and reads back", () => {
    expect(formatTraceparent({ traceId: TRACE, parentId: PARENT })).toBe(VALID)
    expect(formatTraceparent({ traceId: TRACE, parentId: PARENT, flags: "00" })).toBe(`00-${TRACE}-${PARENT}-00`)
    expect(parseTraceparent(formatTraceparent({ traceId: TRACE, parentId: PARENT }))).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      flags: "01",
    })
  })
})

describe("new ids", () => {
  test("are lowercase hex of the spec's lengths, valid to the schemas, and differ", () => {
    const traces = Array.from({ length: 64 }, newTraceId)
    const spans = Array.from({ length: 64 }, newSpanId)
    for (const id of traces) expect([id, isTraceId(id), TraceId.safeParse(id).success]).toEqual([id, true, true])
    for (const id of spans) expect([id, isSpanId(id), SpanId.safeParse(id).success]).toEqual([id, true, true])
    expect(new Set(traces).size).toBe(traces.length)
    expect(new Set(spans).size).toBe(spans.length)
  })

  test("the schemas refuse what the parser refuses", () => {
    for (const bad of ["0".repeat(32), TRACE.toUpperCase(), TRACE.slice(1), `${TRACE}0`])
      expect(TraceId.safeParse(bad).success, bad).toBe(false)
    for (const bad of ["0".repeat(16), PARENT.toUpperCase(), PARENT.slice(1)])
      expect(SpanId.safeParse(bad).success, bad).toBe(false)
  })
})
