/**
 * Reads any session export this product or upstream opencode ever wrote, as hostile input: it
 * never throws, never trusts a file's own verdicts (chains are re-derived from the records, or
 * re-checked from their own links), and labels facts an old writer could not record as
 * `not_recorded_by_writer`, distinct from missing provenance. This file tells the formats
 * apart; each format's reader is in `export-formats/` (upstream opencode, version 1, version 2).
 */
import { EXPORT_SCHEMA, SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
import {
  fail,
  isObject,
  MAX_RECORDS_PER_LIST,
  type ReadResult,
  type ReadSuccess,
  tooManyRecords,
} from "./export-formats/common.ts"
import { readUpstream } from "./export-formats/upstream.ts"
import { readVersion1 } from "./export-formats/v1.ts"
import { incidentClaims, readVersion2 } from "./export-formats/v2.ts"
import { codeToken, foreignChain, nameToken } from "./foreign-text.ts"
import { recheckChain } from "./incident-chain.ts"
import { type IncidentChain, Origin } from "./schemas.ts"
import { unique } from "./unique.ts"
export { type ReadResult, type ReadSuccess } from "./export-formats/common.ts"

/**
 * @example
 *   const result = readExport(JSON.parse(await readFile(file, "utf8")))
 *   if (result.ok) console.log(explainText(result))
 */
export function readExport(json: unknown): ReadResult {
  try {
    const result = read(json)
    if (!result.ok) return result
    return {
      ...result,
      incidents: result.incidents.map(allowListed),
      notRecorded: result.notRecorded.flatMap((name) => nameToken(name) ?? []),
    }
  } catch {
    // Hostile objects (throwing getters, proxies) end here rather than in the caller.
    return fail(UNINSPECTABLE)
  }
}

const UNINSPECTABLE = "The file could not be read: it contains values this reader cannot inspect."

/**
 * A document read in two parts, for a file too large to hold whole: `doc` is the file's parsed
 * value with its `incidents` list left empty, and each of the file's `claimCount` incidents is
 * then handed to `claim` in order, so no more than one is held. The chains and warnings are those `readExport`
 * gives for the whole document: `derived`, then each chain `claim` returns; `finish` gives the
 * result (its `incidents` are `derived` only) once every claim is in.
 */
interface ExportInParts {
  ok: true
  derived: IncidentChain[]
  claim(raw: unknown): IncidentChain | undefined
  finish(): ReadSuccess
}

export function readExportInParts(doc: unknown, claimCount: number): ExportInParts | ReadResult {
  let parsed: ReadResult
  try {
    // The file's parsed value: a JSON string in it is that, not an export's text.
    parsed = readDocument(doc)
  } catch {
    return fail(UNINSPECTABLE)
  }
  if (!parsed.ok) return parsed
  const base = parsed
  // Only a version 2 reader reads the file's incidents; the other formats ignore them.
  const claims = base.format === "v2" ? incidentClaims(base.incidents, base) : undefined
  const derived = base.incidents.map(allowListed)
  const notRecorded = new Set(base.notRecorded)
  let seen = 0
  return {
    ok: true,
    derived,
    claim(raw) {
      if (!claims || seen++ >= MAX_RECORDS_PER_LIST) return undefined
      const chain = claims.add(raw)
      if (!chain) return undefined
      for (const name of chain.notRecorded ?? []) notRecorded.add(name)
      return allowListed(chain)
    },
    finish() {
      if (claims) {
        if (claimCount > MAX_RECORDS_PER_LIST) base.warnings.push(tooManyRecords(claimCount, "incidents"))
        claims.finish()
      }
      return {
        ...base,
        // A derived chain a claim's chain replaced (the claim came with it, above) is not shown twice.
        incidents: claims ? derived.filter((chain) => !claims.replaced.has(chain.runId)) : derived,
        notRecorded: unique([...notRecorded]).flatMap((name) => nameToken(name) ?? []),
      }
    },
  }
}

/**
 * Another writer's chain with only tokens in it (`foreign-text.ts`): what `explain` and the app
 * show of a file never carries its free text. A dropped request is a missing one, so the verdict
 * is re-checked when the origin changed.
 */
function allowListed(chain: IncidentChain): IncidentChain {
  const origin = Origin.safeParse(chain.origin)
  const kept = foreignChain(chain, origin.success ? origin.data : undefined)
  const dropped = origin.success ? kept.origin !== origin.data : kept.origin.kind !== chain.origin.kind
  return dropped ? recheckChain(kept) : kept
}

/** The text without a leading byte-order mark (an editor may put one in front). */
function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/** The input read as an export: JSON text when it is a string, else the parsed document. */
function read(input: unknown): ReadResult {
  if (typeof input !== "string") return readDocument(input)
  let doc: unknown
  try {
    // A mark an editor put in front (line ends, CRLF included, are JSON whitespace already).
    doc = JSON.parse(stripByteOrderMark(input))
  } catch (error) {
    return fail(
      error instanceof SyntaxError
        ? "The file is not valid JSON."
        : "The file is too large or too deeply nested to parse.",
    )
  }
  return readDocument(doc)
}

/** A parsed document read as an export: a string here is the file's JSON value, never parsed again. */
function readDocument(doc: unknown): ReadResult {
  if (typeof doc === "string")
    return fail("The file is a JSON string, not a session export (an export is one JSON object).")
  if (Array.isArray(doc)) return fail("The file is a JSON list, not a session export (an export is one JSON object).")
  if (!isObject(doc)) return fail("The file is not a JSON object, so it is not a session export.")
  const keys = Object.keys(doc)
  if (keys.length === 0) return fail("The file is an empty JSON object: it holds no session, messages or diagnostics.")

  const schema = doc.schema
  if (schema !== undefined && schema !== EXPORT_SCHEMA) {
    // Named only when the file's schema is a name: an error never echoes free text from the input.
    const named = codeToken(schema)
    return fail(
      named
        ? `The file is a "${named}" document, not an opencode session export.`
        : "The file's schema field is not an opencode session export.",
    )
  }

  const version = doc.version
  if (version === undefined) {
    if (isObject(doc.info) && Array.isArray(doc.messages)) return readUpstream(doc)
    if (schema === EXPORT_SCHEMA) return fail("The file names the session-export schema but has no version.")
    if (Array.isArray(doc.messages))
      return readVersion1(doc, ["The file has no version field; it was read as version 1."])
    return fail("The file is not an opencode session export: it has no schema, version, session or messages.")
  }
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    const shown =
      typeof version === "string"
        ? codeToken(version) !== undefined && version.length <= 32
          ? `"${version}"`
          : "a string"
        : typeof version
    return fail(
      `The file's version (${shown}) is not a session export version, so it is probably another kind of document.`,
    )
  }
  if (version === 1) return readVersion1(doc, [])
  const understood = ["session", "messages", "diagnostics", "incidents"].some((field) => doc[field] !== undefined)
  if (version === SUPPORTED_EXPORT_VERSION) {
    if (!understood)
      return fail("The version 2 file has none of an export's fields (session, messages, diagnostics, incidents).")
    return readVersion2(doc, version, [])
  }
  if (!understood) {
    return fail(
      `The file is version ${version}, newer than this reader supports (${SUPPORTED_EXPORT_VERSION}), and has none of the fields it understands.`,
    )
  }
  return readVersion2(doc, version, [])
}
