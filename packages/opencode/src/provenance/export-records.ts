/**
 * The diagnostic records of a version 2 export file, for `explain --otlp`'s spans: each record
 * parsed through its allow-list schema (a record that does not parse is left out, never guessed),
 * and the free-text-shaped fields a trace would show (model, tool names) kept only as tokens.
 * The chains themselves come from `readExport`, which re-derives and re-checks them.
 */
import { isObject, MAX_RECORDS_PER_LIST } from "./export-formats/common.ts"
import { codeToken, foreignError } from "./foreign-text.ts"
import { ClientAction, CrashEvidence, LifecycleAction, RequestContext, RunSummary, type ToolFact } from "./schemas.ts"
import type { z } from "zod"

interface ExportRecords {
  runs?: RunSummary[]
  requests?: RequestContext[]
  renderer?: ClientAction[]
  lifecycle?: LifecycleAction[]
  crashes?: CrashEvidence[]
  exportedAt?: number
}

/** Filesystem roots: a "provider" that is one is a path with its leading slash cut off. */
const PATH_ROOTS = new Set([
  "home",
  "users",
  "root",
  "tmp",
  "var",
  "etc",
  "usr",
  "opt",
  "mnt",
  "media",
  "srv",
  "private",
])

/**
 * A model name without its version pin (`claude-3-5-sonnet@20240620`, as Vertex names models):
 * only digits may follow the `@`, so no `user@host` passes as a name.
 */
export function unversioned(segment: string): string {
  return segment.replace(/@\d{1,16}$/, "")
}

/**
 * A model reference, `provider/model` (`anthropic/claude-sonnet-4-5`, `openrouter/meta-llama/llama-3.1-70b`),
 * else undefined: a provider id (no filesystem root, no drive), then one or more codes. A path
 * (`/home/me/x`, `C:/Users/me`), a URL, a key or a sentence is none.
 *
 * @example modelToken("scripted/slow") // "scripted/slow"; modelToken("/home/me/notes") // undefined
 */
export function modelToken(value: string | undefined): string | undefined {
  if (value === undefined || value.length > 128) return undefined
  const [provider = "", ...rest] = value.split("/")
  const segment = (part: string) => {
    const name = unversioned(part)
    return codeToken(name) !== undefined && !/^\.+$/.test(name)
  }
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(provider) &&
    segment(provider) &&
    !PATH_ROOTS.has(provider.toLowerCase()) &&
    rest.every(segment)
    ? value
    : undefined
}

const tokenTools = (tools: ToolFact[]) =>
  tools.map((tool) => ({
    ...tool,
    name: codeToken(tool.name) ?? "unknown",
    callId: codeToken(tool.callId) ?? "unknown",
  }))

/** @example const records = exportRecords(JSON.parse(text)) // {} when the document is not a JSON object */
export function exportRecords(doc: unknown): ExportRecords {
  if (!isObject(doc) || !isObject(doc.diagnostics)) return {}
  const diagnostics = doc.diagnostics
  const list = <S extends z.ZodType>(schema: S, raw: unknown): z.infer<S>[] =>
    Array.isArray(raw)
      ? raw.slice(0, MAX_RECORDS_PER_LIST).flatMap((item) => {
          const parsed = schema.safeParse(item)
          return parsed.success ? [parsed.data] : []
        })
      : []
  const runs = list(RunSummary, diagnostics.runs).map((run) => {
    const { model, error, ...rest } = run
    return {
      ...rest,
      tools: tokenTools(run.tools),
      ...(modelToken(model) ? { model } : {}),
      ...(error ? { error: foreignError(error) } : {}),
    }
  })
  const crashes = list(CrashEvidence, diagnostics.crashes).map((crash) =>
    crash.tools ? { ...crash, tools: tokenTools(crash.tools) } : crash,
  )
  const exportedAt =
    typeof doc.exportedAt === "number" && Number.isSafeInteger(doc.exportedAt) ? doc.exportedAt : undefined
  return {
    runs,
    requests: list(RequestContext, diagnostics.requests),
    renderer: list(ClientAction, diagnostics.renderer),
    lifecycle: list(LifecycleAction, diagnostics.lifecycle),
    crashes,
    ...(exportedAt !== undefined && exportedAt >= 0 ? { exportedAt } : {}),
  }
}
