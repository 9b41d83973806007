/**
 * The one table of secret shapes every scrubber applies (the export's redactor, the log
 * scrubber, the provider's error excerpt): a shape added here is hidden everywhere at once.
 * Each secret becomes a visible `[redacted:KIND]` marker, so a reader knows something was removed.
 */
import { SECRET_KEY_WORDS } from "./secret-names.ts"

interface SecretRule {
  kind: string
  pattern: RegExp
  replace: (match: string, ...groups: string[]) => string
}

/** The visible stand-in for a removed secret. */
const marker = (kind: string) => `[redacted:${kind}]`

/** Applied in order: the most specific shapes first, so a generic rule never half-matches them. */
export const SECRET_RULES: readonly SecretRule[] = [
  {
    kind: "private_key",
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    replace: () => marker("private_key"),
  },
  {
    kind: "jwt",
    pattern: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
    replace: () => marker("jwt"),
  },
  {
    kind: "authorization",
    pattern:
      /\b(authorization|proxy-authorization)(["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token|digest)\s+)?[^\s"',;]+/gi,
    replace: (_m, key, sep) => `${key}${sep}${marker("authorization")}`,
  },
  {
    kind: "bearer",
    pattern: /\b(bearer)\s+[A-Za-z0-9._~+/=-]+/gi,
    replace: (_m, word) => `${word} ${marker("bearer")}`,
  },
  {
    kind: "url_credentials",
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi,
    replace: (_m, scheme) => `${scheme}${marker("url_credentials")}@`,
  },
  {
    // key=value, key: value, "key": "value", key='value'; the key itself stays visible.
    kind: "key_value",
    pattern: new RegExp(
      `(["']?)([A-Za-z0-9_.-]*(${SECRET_KEY_WORDS})[A-Za-z0-9_.-]*)\\1(\\s*[:=]\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|[^\\s,;&}\\])]+)`,
      "gi",
    ),
    replace: (match, quote, key, keyword, sep, value) => {
      const bare = value.replace(/^["']|["']$/g, "")
      if (bare.startsWith("[redacted:") || bare.length === 0) return match
      const kind = keyword
        .toLowerCase()
        .replace(/[-]/g, "_")
        .replace(/^apikey$/, "api_key")
        .replace(/^privatekey$/, "private_key")
      const valueQuote = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : ""
      return `${quote}${key}${quote}${sep}${valueQuote}${marker(kind)}${valueQuote}`
    },
  },
  // `sk-`, `pk-` and `rk-` keys of any length (providers' test keys are short too).
  { kind: "api_key", pattern: /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{3,}/g, replace: () => marker("api_key") },
  {
    kind: "github_token",
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g,
    replace: () => marker("github_token"),
  },
  { kind: "gitlab_token", pattern: /\bglpat-[A-Za-z0-9_-]{20,}/g, replace: () => marker("gitlab_token") },
  { kind: "slack_token", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, replace: () => marker("slack_token") },
  { kind: "aws_key", pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, replace: () => marker("aws_key") },
  { kind: "google_api_key", pattern: /\bAIza[0-9A-Za-z_-]{35}/g, replace: () => marker("google_api_key") },
  { kind: "npm_token", pattern: /\bnpm_[A-Za-z0-9]{36}/g, replace: () => marker("npm_token") },
]

/**
 * Generic long tokens. The redactor applies them after paths are digested, so a path is never
 * read as a token; text that keeps its paths (a log's stack) does not use them.
 */
export const TOKEN_RULES: readonly SecretRule[] = [
  { kind: "hex_token", pattern: /\b[a-fA-F0-9]{32,}\b/g, replace: () => marker("hex_token") },
  {
    kind: "token",
    pattern: /(?<![A-Za-z0-9+_=-])[A-Za-z0-9+_-]{32,}={0,2}(?![A-Za-z0-9+_=-])/g,
    // Only strings that mix letters and digits: long words and identifiers stay readable.
    replace: (match) => (/[0-9]/.test(match) && /[A-Za-z]/.test(match) ? marker("token") : match),
  },
]

/** Applies `rules` in order. */
export function applyRules(text: string, rules: readonly SecretRule[]): string {
  let out = text
  for (const rule of rules) out = out.replace(rule.pattern, rule.replace as (m: string, ...g: any[]) => string)
  return out
}

/**
 * Every secret shape of the table replaced by its marker; `known` values (a configured key or
 * token) are replaced first, whatever their shape.
 *
 * @example scrubSecrets("401 for ghp_abc… at https://me:pw@host", [{ value: apiKey, kind: "api_key" }])
 */
export function scrubSecrets(text: string, known: readonly { value: string | undefined; kind: string }[] = []): string {
  let out = text
  // A value shorter than 4 characters would replace ordinary words.
  for (const { value, kind } of known) if (value && value.length >= 4) out = out.split(value).join(marker(kind))
  return applyRules(out, SECRET_RULES)
}

// An absolute path starts at a boundary: POSIX with at least two segments (so `/health` stays
// readable) and not right after an HTTP method (a route), `~/...`, `file://...`, or a Windows
// drive path. Segments stop at spaces and quotes, so a path with spaces is digested in parts.
const PATH_SEGMENT = "[^\\s\"'`()<>\\[\\]{},;:|*?]+"
const WINDOWS_PATH_SEGMENT = "[^\\s\"'`()<>\\[\\]{},;:|*?\\\\]+"
/** Absolute paths in free text (global): the server's redactor digests them, the app marks them. */
export const ABSOLUTE_PATH = new RegExp(
  [
    `(?:file://)(?:/${PATH_SEGMENT})+/?`,
    `(?<=^|[\\s"'(\\[=,:<>])(?<!\\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) )(?:/${PATH_SEGMENT}){2,}/?`,
    `(?<=^|[\\s"'(\\[=,:<>])~(?:/${PATH_SEGMENT})+/?`,
    `(?<![A-Za-z0-9])[A-Za-z]:\\\\(?:${WINDOWS_PATH_SEGMENT}\\\\?)+`,
  ].join("|"),
  "g",
)
