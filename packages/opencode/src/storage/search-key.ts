/**
 * The folded form a session title is searched by, stored beside the title (`session.title_key`)
 * so a searched page is read from an index instead of folding every row per query.
 */

/**
 * Compatibility-normalised (NFKC: NFD and NFC spellings, full-width letters and ligatures read
 * alike) and case-folded for every script: upper-casing first folds `ß` to `ss`, and the
 * Greek final sigma is folded to `σ`, so a word matches wherever it stands.
 *
 * @example searchKey("ÉTÉ à Paris") === searchKey("e\u0301te\u0301 À PARIS") // true
 */
export function searchKey(text: string): string {
  return text.normalize("NFKC").toUpperCase().toLowerCase().replace(/ς/g, "σ").normalize("NFKC")
}
