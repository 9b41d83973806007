/**
 * The one directory normaliser. The middleware, the instance store, run state and the export
 * all key directories by `directoryKey()`, so a symlink alias or a trailing slash can never open
 * a second instance of one project, nor split one incident across two keys.
 * Identity comes from the file system: a name is folded (Unicode NFC, lower case) only when the
 * folded name is the same directory (device and inode), because on Linux `café` (NFC) and
 * `café` (NFD), or `Project` and `project`, can be two real directories. A key is always a
 * path to the directory it keys (tools resolve against it).
 * The renderer and the SDK send raw paths; only the server normalises.
 */
import fs from "node:fs"
import path from "node:path"

/** Longest project path we accept: PATH_MAX on Linux; longer input is hostile or broken. */
export const MAX_DIRECTORY_LENGTH = 4096

type InvalidDirectoryReason =
  "empty" | "malformed_encoding" | "nul_byte" | "too_long" | "relative" | "not_found" | "not_a_directory"

/** A project directory the server refuses; the server answers it as `400 invalid_directory`. */
export class InvalidDirectoryError extends Error {
  readonly code = "invalid_directory"
  constructor(
    readonly reason: InvalidDirectoryReason,
    message: string,
  ) {
    super(message)
    this.name = "InvalidDirectoryError"
  }
}

/**
 * Decodes a directory sent in `x-opencode-directory`. The SDK percent-encodes it (a literal
 * `%` arrives as `%25`). A header sent raw as UTF-8 (curl) reaches Node as latin1 bytes and is
 * re-read as UTF-8. Do not pass `?directory=` through this: Hono's `c.req.query()` has already
 * decoded it, and decoding twice would turn a literal `%41` into `A`.
 *
 * @example decodeDirectoryParam("%2Ftmp%2Fmy%20project") // "/tmp/my project"
 * @throws InvalidDirectoryError (`malformed_encoding`) for a bad `%` sequence such as `%zz`.
 */
export function decodeDirectoryParam(raw: string): string {
  let value = raw
  if (/[^\x00-\x7f]/.test(value) && !/[^\x00-\xff]/.test(value)) {
    const utf8 = Buffer.from(value, "latin1").toString("utf8")
    if (!utf8.includes("\ufffd")) value = utf8
  }
  try {
    return decodeURIComponent(value)
  } catch {
    throw new InvalidDirectoryError("malformed_encoding", "directory is not valid percent-encoding")
  }
}

/**
 * Checks that a decoded directory is usable as a project: absolute, no NUL byte, at most
 * 4096 characters, existing, and a directory (a symlink to one is fine). Returns it resolved
 * (`.` and `..` removed); key it with `directoryKey()` afterwards.
 *
 * @example validateProjectDirectory("/home/me/project/") // "/home/me/project"
 * @throws InvalidDirectoryError with `code: "invalid_directory"` and a `reason`.
 */
export function validateProjectDirectory(raw: string): string {
  if (raw.length === 0) throw new InvalidDirectoryError("empty", "directory is empty")
  if (raw.length > MAX_DIRECTORY_LENGTH) {
    throw new InvalidDirectoryError("too_long", `directory is longer than ${MAX_DIRECTORY_LENGTH} characters`)
  }
  if (raw.includes("\0")) throw new InvalidDirectoryError("nul_byte", "directory contains a NUL byte")
  if (!path.isAbsolute(raw)) throw new InvalidDirectoryError("relative", "directory is not an absolute path")
  const resolved = path.resolve(raw)
  let stat: fs.Stats
  try {
    stat = fs.statSync(resolved)
  } catch {
    throw new InvalidDirectoryError("not_found", "directory does not exist")
  }
  if (!stat.isDirectory()) throw new InvalidDirectoryError("not_a_directory", "not a directory: directory names a file")
  return resolved
}

/** `realpath` of the longest existing ancestor, and the missing components below it, in order. */
function realpathExistingPrefix(resolved: string): { existing: string; missing: string[] } {
  const missing: string[] = []
  let current = resolved
  for (;;) {
    try {
      return { existing: fs.realpathSync.native(current), missing: missing.reverse() }
    } catch {
      const parent = path.dirname(current)
      // The root always exists; if even it fails (no permission), keep the lexical path.
      if (parent === current) return { existing: resolved, missing: [] }
      missing.push(path.basename(current))
      current = parent
    }
  }
}

function stripTrailingSeparators(p: string): string {
  const root = path.parse(p).root
  let end = p.length
  while (end > root.length && (p[end - 1] === path.sep || p[end - 1] === "/")) end--
  return p.slice(0, end)
}

function swapCase(s: string): string {
  let out = ""
  for (const ch of s) {
    const lower = ch.toLowerCase()
    out += ch === lower ? ch.toUpperCase() : lower
  }
  return out
}

/** One answer per device id: case sensitivity is a property of the volume ("mount-ish"). */
const caseCache = new Map<number | bigint, boolean>()

/**
 * Whether the file system holding `existing` (an existing path) ignores case. Probed once per
 * device: first by looking the path up with its case swapped (no writes); when no component
 * has letters, by creating a short-lived probe directory there; failing both, by platform.
 *
 * @example caseInsensitiveAt("/Users/me") // true on a default macOS volume
 */
export function caseInsensitiveAt(existing: string): boolean {
  let stat: fs.Stats
  try {
    stat = fs.statSync(existing)
  } catch {
    return platformDefault()
  }
  const cached = caseCache.get(stat.dev)
  if (cached !== undefined) return cached
  const answer =
    probeBySwappedLookup(existing, stat) ??
    probeByTempDir(stat.isDirectory() ? existing : path.dirname(existing)) ??
    platformDefault()
  caseCache.set(stat.dev, answer)
  return answer
}

function probeBySwappedLookup(existing: string, stat: fs.Stats): boolean | undefined {
  const swapped = swapCase(existing)
  if (swapped === existing) return undefined
  try {
    const other = fs.statSync(swapped)
    return other.dev === stat.dev && other.ino === stat.ino
  } catch {
    return false
  }
}

function probeByTempDir(dir: string): boolean | undefined {
  let probe: string | undefined
  try {
    probe = fs.mkdtempSync(path.join(dir, ".opencode-case-probe-"))
    const upper = path.join(path.dirname(probe), path.basename(probe).toUpperCase())
    return fs.existsSync(upper)
  } catch {
    return undefined
  } finally {
    if (probe) fs.rmSync(probe, { recursive: true, force: true })
  }
}

function platformDefault(): boolean {
  return process.platform === "darwin" || process.platform === "win32"
}

/** True when both paths exist and are one file-system entry (device and inode). */
function sameEntry(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a, { bigint: true })
    const y = fs.statSync(b, { bigint: true })
    return x.dev === y.dev && x.ino === y.ino
  } catch {
    return false
  }
}

/**
 * Builds a `directoryKey` with a given case probe and identity check. The server uses
 * `directoryKey`; this exists so tests can simulate a case-insensitive volume on a
 * case-sensitive machine.
 *
 * @example const key = createDirectoryKey(() => true); key("/Tmp/Proj") // "/tmp/proj" when both name one directory
 */
export function createDirectoryKey(
  isCaseInsensitive: (existing: string) => boolean = caseInsensitiveAt,
  isSameEntry: (a: string, b: string) => boolean = sameEntry,
) {
  return function directoryKey(raw: string): string {
    const resolved = path.resolve(raw)
    const { existing, missing } = realpathExistingPrefix(resolved)
    let name = existing
    // Each fold is kept only when the file system says the folded name is this same directory.
    const nfc = name.normalize("NFC")
    if (nfc !== name && isSameEntry(nfc, name)) name = nfc
    const insensitive = isCaseInsensitive(existing)
    if (insensitive) {
      const lower = name.toLowerCase()
      if (lower !== name && isSameEntry(lower, name)) name = lower
    }
    // The missing rest has no identity yet: kept as written, case aside on a volume that ignores case.
    const rest = insensitive ? missing.map((part) => part.toLowerCase()) : missing
    return stripTrailingSeparators(rest.length ? path.join(name, ...rest) : name)
  }
}

/**
 * The key of a directory: resolved, symlinks followed (for a path that does not exist yet, those
 * of its longest existing ancestor), no trailing separator; folded to Unicode NFC or lower case
 * only where the folded name is the same directory on disk. Pure of the server: no validation,
 * never throws for a string.
 *
 * @example directoryKey("/tmp/link-to-project/./") // "/tmp/project" when the link points there
 */
export const directoryKey: (raw: string) => string = createDirectoryKey()
