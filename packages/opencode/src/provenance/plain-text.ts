/**
 * Text from an imported file made safe to print: every control and invisible character shown as
 * `<U+XXXX>` (`visibleControls`), bounded length.
 */
export function plain(text: string, maxLen = 128): string {
  return cutText(visibleControls(text), maxLen, "units")
}

/** Controls (C0, DEL, C1), format characters (bidi controls, zero-width characters, BOM, tags) and line/paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
const PICTOGRAPH = /\p{Extended_Pictographic}/u

/**
 * `text` with every character that moves the cursor, starts a terminal escape, reorders the
 * line (U+202E and the other bidi controls) or is invisible (U+200B, U+FEFF, …) written as a
 * visible `<U+XXXX>`, so what a terminal shows is what the file holds. A zero-width joiner
 * between two pictographs is kept: it is what joins an emoji sequence such as a family.
 *
 * @example visibleControls("evil\u202egnp.exe") // "evil<U+202E>gnp.exe"
 */
export function visibleControls(text: string): string {
  return text.replace(INVISIBLE, (char, offset: number) => {
    if (
      char === "\u200d" &&
      PICTOGRAPH.test(pictographBefore(text, offset)) &&
      PICTOGRAPH.test(String.fromCodePoint(text.codePointAt(offset + 1) ?? 0))
    )
      return char
    return `<U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}>`
  })
}

/** The code point before `offset`, stepping over an emoji presentation selector (U+FE0F) and a skin tone. */
function pictographBefore(text: string, offset: number): string {
  let end = offset
  if (text[end - 1] === "\ufe0f") end--
  // A skin-tone modifier (U+1F3FB–1F3FF) is itself a pictograph's part: step over its two units.
  const tone = text.codePointAt(end - 2)
  if (tone !== undefined && tone >= 0x1f3fb && tone <= 0x1f3ff) end -= 2
  const low = text.charCodeAt(end - 1)
  const start = low >= 0xdc00 && low <= 0xdfff ? end - 2 : end - 1
  return start < 0 ? "" : String.fromCodePoint(text.codePointAt(start) ?? 0)
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
