/** Text from an imported file made safe to print: no control characters or terminal escapes, bounded length. */
export function plain(text: string, maxLen = 128): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
  return cutText(clean, maxLen, "units")
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" })

/**
 * `text` cut to `max`, ending in "…" when cut so a reader sees that it was, and cut only between
 * grapheme clusters: never half a surrogate pair, an emoji sequence or a letter and its accents.
 * `"graphemes"` counts characters as a person counts them (titles, labels); `"units"` counts
 * UTF-16 code units, for a bound a schema's `.max()` checks.
 *
 * @example cutText("👍🏽".repeat(3), 2) // "👍🏽…"
 */
export function cutText(text: string, max: number, measure: "graphemes" | "units" = "graphemes"): string {
  // Every grapheme is at least one code unit: text this short is never over either bound.
  if (text.length <= max) return text
  if (max < 1) return ""
  const kept: string[] = []
  let used = 0
  let over = false
  for (const { segment } of graphemes.segment(text)) {
    const size = measure === "units" ? segment.length : 1
    if (used + size > max) {
      over = true
      break
    }
    kept.push(segment)
    used += size
  }
  if (!over) return text
  // Room for the ellipsis: drop whole clusters until it fits.
  while (kept.length > 0 && used + 1 > max) used -= measure === "units" ? kept.pop()!.length : (kept.pop(), 1)
  return `${kept.join("").trimEnd()}…`
}
