/** `opencode explain FILE`: the causal chain of each incident in plain words, for any export version. */
import { readFileSync, statSync } from "node:fs"
import { parseArgs } from "node:util"
import { explainText, readExport } from "../provenance/index.ts"
import { visibleControls } from "../provenance/plain-text.ts"
import { decodeExportBytes } from "../provenance/node/export-bytes.ts"

/** Files larger than this are refused before reading (exports are a few MB at most). */
const MAX_FILE_BYTES = 256 * 1024 * 1024

/**
 * JSON with every control, bidi and invisible character written as a `\uXXXX` escape:
 * `JSON.stringify` leaves U+202E and the C1 controls raw, and a terminal would act on them. The
 * characters only occur inside strings, so the JSON parses to the same value.
 */
function escapeInvisible(json: string): string {
  return json.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (char) =>
    // An astral one (a tag character) is escaped as its surrogate pair, as JSON spells it.
    char === "\n" ? char : [...Array(char.length).keys()].map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""),
  )
}

/** One line on stderr; a file name or argument with controls in it is shown, not acted on. */
function say(line: string): void {
  console.error(visibleControls(line))
}

export async function runExplain(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, options: { json: { type: "boolean", default: false } }, allowPositionals: true, strict: true })
  } catch (err) {
    say(`opencode explain: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
  const file = parsed.positionals[0]
  if (!file) {
    console.error("opencode explain: name the export file, e.g. opencode explain export.json")
    return 2
  }
  let text: string
  try {
    const stat = statSync(file)
    if (stat.isDirectory()) throw Object.assign(new Error(), { code: "EISDIR" })
    if (stat.size > MAX_FILE_BYTES) {
      say(`opencode explain: ${file} is ${stat.size} bytes, larger than any session export this reader accepts.`)
      return 1
    }
    text = decodeExportBytes(readFileSync(file))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : "it could not be read"
    say(`opencode explain: cannot read ${file}: ${why}.`)
    return 1
  }
  if (text.trim() === "") {
    say(`opencode explain: ${file} is empty, so it is not a session export.`)
    return 1
  }
  const result = readExport(text)
  if (!result.ok) {
    say(`opencode explain: ${result.error}`)
    return 1
  }
  if (parsed.values.json) {
    const json = JSON.stringify({ format: result.format, version: result.version, warnings: result.warnings, notRecorded: result.notRecorded, unknownFields: result.unknownFields, incidents: result.incidents }, null, 2)
    process.stdout.write(`${escapeInvisible(json)}\n`)
  } else {
    process.stdout.write(`${explainText(result)}\n`)
  }
  return 0
}
