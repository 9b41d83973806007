/**
 * Every cut of text a person reads falls between grapheme clusters: never half a surrogate pair
 * (which prints as "�"), half an emoji sequence, or a letter without its accent. Titles and
 * labels count characters as a person counts them; bounds a schema checks count UTF-16 units and
 * still never split a cluster.
 */
import { describe, expect, it } from "vitest"
import { excerptOf } from "../../src/provider/openai.ts"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { cutText, plain } from "../../src/provenance/plain-text.ts"
import { cut } from "../../src/session/run-observability/summary.ts"

/** Half a surrogate pair: what a cut by UTF-16 length leaves, printed as "�". */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const graphemes = (text: string) =>
  [...new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)].map((part) => part.segment)
/** Whether `short` is `long` cut at a cluster boundary, with an ellipsis. */
function cutAtBoundary(long: string, short: string): boolean {
  if (!short.endsWith("…")) return false
  const kept = graphemes(short.slice(0, -1))
  return kept.every((segment, i) => segment === graphemes(long)[i])
}

const THUMBS = "👍🏽"
const FAMILY = "👨‍👩‍👧‍👦"
const E_ACUTE = "e\u0301"

describe("cutText", () => {
  it("counts characters as a person does", () => {
    expect(cutText(THUMBS.repeat(3), 2)).toBe(`${THUMBS}…`)
    expect(cutText(`${"a".repeat(9)}${FAMILY}x`, 10)).toBe(`${"a".repeat(9)}…`)
    expect(cutText(E_ACUTE.repeat(5), 3)).toBe(`${E_ACUTE.repeat(2)}…`)
    expect(cutText("𝒜".repeat(5), 5)).toBe("𝒜".repeat(5))
    expect(cutText("short", 60)).toBe("short")
  })

  it("bounds UTF-16 units without splitting a cluster", () => {
    const out = cutText(`${"a".repeat(5)}${FAMILY}`, 10, "units")
    expect(out).toBe(`${"a".repeat(5)}…`)
    expect(cutText(`abc${THUMBS}${THUMBS}`, 8, "units")).toBe(`abc${THUMBS}…`)
  })
})

describe("the other cuts of text a person reads", () => {
  const long = `${"x".repeat(120)}${THUMBS.repeat(40)}${E_ACUTE.repeat(40)}${FAMILY.repeat(10)}`

  it.each([
    ["a run summary's bounded field", (text: string) => cut(text, 128)],
    ["an imported file's text in explain", (text: string) => plain(text, 128)],
    ["a redacted error excerpt", (text: string) => createRedactor("salt").scrubText(text, 160)],
    ["a provider's error excerpt", (text: string) => excerptOf(text)],
  ])("%s is cut between clusters and stays within its bound", (_, cutter) => {
    for (let shift = 0; shift < 12; shift++) {
      const text = `${"y".repeat(shift)}${long}`
      const out = cutter(text)
      expect(out).not.toMatch(LONE_SURROGATE)
      expect(out.length).toBeLessThanOrEqual(161)
      expect(cutAtBoundary(text, out)).toBe(true)
    }
  })
})
