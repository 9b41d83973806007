/**
 * What leaves the machine from free text: paths as salted digests, secrets as visible
 * `[redacted:KIND]` markers (so a reader knows something was removed), and errors reduced to
 * code, class, status and a short scrubbed excerpt, never a raw message.
 */
import { createHmac } from "node:crypto"
import { ErrorFact } from "../schemas.ts"
import { cutText } from "../plain-text.ts"
import { ABSOLUTE_PATH, applyRules, SECRET_RULES, TOKEN_RULES } from "../secret-rules.ts"

interface PathDigest {
  digest: string
  depth: number
}

export interface Redactor {
  /** A path as a salted digest plus its depth; the path itself is not recoverable. */
  digestPath(path: string): PathDigest
  /** Salted sha256 of a value, 16 hex characters. */
  digest(value: string): string
  /** Secrets marked, absolute paths digested, whitespace collapsed, cut to `maxLen` with an ellipsis. */
  scrubText(text: string, maxLen?: number): string
  /** An error reduced to what may be kept. Never throws, whatever was thrown. */
  errorFact(err: unknown): ErrorFact
}

const DIGEST_LENGTH = 16
const DEFAULT_MAX_LEN = 160
// Scrubbing works on a bounded prefix so a huge message cannot cost much; the cut falls back to a
// whitespace boundary so no partial secret survives unmatched at the edge.
const SCRUB_WINDOW = 8192

/**
 * @example
 *   const redactor = createRedactor(installSalt)
 *   redactor.scrubText("401 for sk-abcdefghijklmnopqrstuv at /home/me/app") // "401 for [redacted:api_key] at [path:…]"
 */
export function createRedactor(salt: string): Redactor {
  const digest = (value: string): string =>
    createHmac("sha256", salt).update(value).digest("hex").slice(0, DIGEST_LENGTH)

  const digestPath = (path: string): PathDigest => ({
    digest: digest(path),
    depth: path.split(/[\\/]+/).filter((segment) => segment.length > 0 && !/^[A-Za-z]:$/.test(segment)).length,
  })

  const scrubText = (text: string, maxLen: number = DEFAULT_MAX_LEN): string => {
    let window = text
    if (window.length > SCRUB_WINDOW) {
      window = window.slice(0, SCRUB_WINDOW)
      const boundary = window.search(/\s\S*$/)
      window = boundary > 0 ? window.slice(0, boundary) : ""
    }
    // Control characters (terminal escapes included) never reach a kept excerpt.
    let out = window.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
    out = applyRules(out, SECRET_RULES)
    out = out.replace(ABSOLUTE_PATH, (path) => `[path:${digest(path.replace(/^file:\/\//, ""))}]`)
    out = applyRules(out, TOKEN_RULES)
    out = out.replace(/\s+/g, " ").trim()
    const truncated = text.length > window.length
    return truncate(out, Math.max(1, maxLen), truncated)
  }

  const errorFact = (err: unknown): ErrorFact => {
    const fact = {
      code: readCode(err),
      class: readClass(err),
      status: readStatus(err),
      excerpt: readMessage(err),
    }
    const message =
      fact.excerpt !== undefined && isToolError(err, fact.class) ? digestQuotedInputs(fact.excerpt) : fact.excerpt
    const excerpt = message === undefined ? undefined : scrubText(message)
    const parsed = ErrorFact.safeParse({ ...fact, excerpt: excerpt === "" ? undefined : excerpt })
    return parsed.success ? parsed.data : { code: "unknown", class: "unknown" }
  }

  /**
   * A tool's error quotes the input it failed on (`path "notes/plan.txt" is outside the
   * project`): a tool input, which diagnostics never contain, even as a relative path the path
   * rule would keep. Each quoted value becomes a digest, so two errors on one input still match.
   */
  const digestQuotedInputs = (message: string): string =>
    message.replace(/"(?:[^"\\]|\\.)*(?:"|$)/g, (quoted) => `"[path:${digest(quoted.replace(/^"|"$/g, ""))}]"`)

  return { digest, digestPath, scrubText, errorFact }
}

/** Errors thrown by our tools (src/tool): their messages quote the model's tool input. */
function isToolError(err: unknown, className: string): boolean {
  return className === "ToolError" || read(err, "name") === "ToolError"
}

function truncate(text: string, maxLen: number, alreadyCut: boolean): string {
  if (text.length <= maxLen && !alreadyCut) return text
  // Cut between characters (never half a surrogate pair or an emoji), the ellipsis added below.
  let cut = text.length <= maxLen - 1 ? text : cutText(text, maxLen, "units").slice(0, -1)
  // Never leave half a marker: a reader must see either the whole marker or none of it.
  const open = cut.lastIndexOf("[")
  if (open > cut.lastIndexOf("]") && /^\[(?:redacted|path):/.test(text.slice(open))) cut = cut.slice(0, open)
  return `${cut.trimEnd()}…`
}

/** Reads a property without trusting the object: getters and proxies may throw. */
function read(err: unknown, key: string): unknown {
  if (err === null || (typeof err !== "object" && typeof err !== "function")) return undefined
  try {
    return (err as Record<string, unknown>)[key]
  } catch {
    return undefined
  }
}

function readCode(err: unknown): string {
  const code = read(err, "code")
  if (typeof code === "string" && /^[A-Za-z0-9_.:-]{1,64}$/.test(code)) return code
  if (typeof code === "number" && Number.isInteger(code)) return String(code)
  return "unknown"
}

function readClass(err: unknown): string {
  if (err === null) return "null"
  if (typeof err !== "object" && typeof err !== "function") return typeof err
  try {
    const name = (Object.getPrototypeOf(err) as { constructor?: { name?: unknown } } | null)?.constructor?.name
    if (typeof name === "string" && /^[A-Za-z_$][\w$]{0,63}$/.test(name)) return name
  } catch {
    // A hostile prototype: fall through to the generic class.
  }
  return "Object"
}

function readStatus(err: unknown): number | undefined {
  for (const key of ["status", "statusCode"]) {
    const status = read(err, key)
    if (typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599) return status
  }
  return undefined
}

function readMessage(err: unknown): string | undefined {
  if (typeof err === "string") return err
  // An error that says what of itself diagnostics may keep (a provider's) is kept by that alone.
  const diagnostic = read(err, "diagnostic")
  if (typeof diagnostic === "string") return diagnostic
  const message = read(err, "message")
  return typeof message === "string" ? message : undefined
}
