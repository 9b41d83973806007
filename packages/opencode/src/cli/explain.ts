/** `opencode explain FILE`: the causal chain of each incident in plain words, for any export version. */
import { parseArgs } from "node:util"
import { readExport, type ReadSuccess } from "../provenance/index.ts"
import { explainLines, incidentBlock } from "../provenance/explain.ts"
import { readExportInParts } from "../provenance/export-reader.ts"
import { messageFacts } from "../provenance/export-formats/common.ts"
import type { IncidentChain } from "../provenance/schemas.ts"
import { exportRecords } from "../provenance/export-records.ts"
import { traceSpans } from "../provenance/trace-mapping.ts"
import { otlpSettingFromEnv } from "../tracing/otlp-config.ts"
import { visibleControls } from "../provenance/plain-text.ts"
import { decodeExportChunks } from "../provenance/node/export-bytes.ts"
import { ExportScanError, scanExport } from "../provenance/node/export-stream.ts"
import { FileRefusal, readRegularFileChunks } from "../regular-file.ts"

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
    char === "\n"
      ? char
      : [...Array(char.length).keys()].map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""),
  )
}

/** One line on stderr; a file name or argument with controls in it is shown, not acted on. */
function say(line: string): void {
  console.error(visibleControls(line))
}

export async function runExplain(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { json: { type: "boolean", default: false }, otlp: { type: "boolean", default: false } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    say(`opencode explain: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
  const file = parsed.positionals[0]
  if (!file) {
    console.error("opencode explain: name the export file, e.g. opencode explain export.json")
    return 2
  }
  const read = (lists: Parameters<typeof scanExport>[1]) =>
    scanExport(decodeExportChunks(readRegularFileChunks(file, { maxBytes: MAX_FILE_BYTES, label: "it" })), lists)
  const mode = parsed.values.otlp ? "otlp" : parsed.values.json ? "json" : "text"
  // Two passes over the file, so neither is held whole. The first reads all but the file's own
  // incidents (its messages only as far as the reader reads them); the second hands each incident
  // to the reader in turn, after the records it is checked against.
  let doc: unknown
  let lastIncidents = 0
  try {
    doc = await read({
      lists: { messages: messageFacts, incidents: (_raw, occurrence) => void (lastIncidents = occurrence) },
    })
  } catch (err) {
    return refused(err, file)
  }
  const claimCount = isRecord(doc) && Array.isArray(doc.incidents) ? doc.incidents.length : 0
  if (isRecord(doc) && claimCount > 0) doc.incidents = []
  const parts = isRecord(doc) ? readExportInParts(doc, claimCount) : readExport(doc)
  if (!parts.ok) {
    say(`opencode explain: ${parts.error}`)
    return 1
  }
  // The text of each further chain (all that `explain` keeps of it), or the chain itself for --json and --otlp.
  const blocks: string[] = []
  const chains: IncidentChain[] = []
  let result: ReadSuccess
  if ("claim" in parts) {
    let seen = 0
    if (claimCount > 0) {
      const claim = (raw: unknown, occurrence: number) => {
        // The last list of a repeated key is the one the first pass kept.
        if (occurrence !== lastIncidents) return
        seen++
        const chain = parts.claim(raw)
        if (!chain) return
        if (mode === "text") blocks.push(incidentBlock(chain, parts.derived.length + blocks.length + 1))
        else chains.push(chain)
      }
      try {
        await read({ lists: { incidents: claim }, skip: (key) => key !== "incidents" })
      } catch (err) {
        return refused(err, file)
      }
      if (seen !== claimCount) {
        say(`opencode explain: ${file} changed while it was read; run explain again once it is written.`)
        return 1
      }
    }
    result = parts.finish()
  } else result = parts
  if (mode === "otlp") return sendOtlp({ ...result, incidents: [...result.incidents, ...chains] }, doc, process.env)
  if (mode === "json") {
    const json = JSON.stringify(
      {
        format: result.format,
        version: result.version,
        warnings: result.warnings,
        notRecorded: result.notRecorded,
        unknownFields: result.unknownFields,
        incidents: [...result.incidents, ...chains],
      },
      null,
      2,
    )
    process.stdout.write(`${escapeInvisible(json)}\n`)
  } else {
    await writeLines(explainLines(result, { count: blocks.length, blocks }))
  }
  return 0
}

/** Lines to stdout in batches of about 64 kB, each batch after the last has drained. */
async function writeLines(lines: Iterable<string>): Promise<void> {
  let batch = ""
  let first = true
  const flush = async () => {
    if (!process.stdout.write(batch)) await new Promise((resolve) => process.stdout.once("drain", resolve))
    batch = ""
  }
  for (const line of lines) {
    batch += first ? line : `\n${line}`
    first = false
    if (batch.length >= 64 * 1024) await flush()
  }
  batch += "\n"
  await flush()
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

/** What went wrong reading the file, in one line on stderr; the exit code. */
function refused(err: unknown, file: string): number {
  if (err instanceof ExportScanError) {
    say(
      err.empty
        ? `opencode explain: ${file} is empty, so it is not a session export.`
        : `opencode explain: ${err.message}`,
    )
    return 1
  }
  const refusal = err instanceof FileRefusal ? err : undefined
  // A pipe, socket, device or directory is the wrong argument, not a bad export: never waited on.
  if (refusal?.code === "not_regular_file") {
    say(`opencode explain: cannot read ${file}: ${refusal.message}; name an export file.`)
    return 2
  }
  if (refusal?.code === "too_large") {
    say(`opencode explain: ${file} is larger than any session export this reader accepts.`)
    return 1
  }
  const why =
    refusal?.code === "not_found"
      ? "no such file"
      : /permission denied/.test(refusal?.message ?? "")
        ? "permission denied"
        : "it could not be read"
  say(`opencode explain: cannot read ${file}: ${why}.`)
  return 1
}

/**
 * `--otlp`: the file's chains as traces, sent to the receiver the OTEL_* variables name (a user's
 * bug-report export in a maintainer's Jaeger). Prints one trace id a line; exit 1 when the
 * receiver refused or could not be reached, 2 when no receiver is configured.
 */
async function sendOtlp(result: ReadSuccess, doc: unknown, env: Record<string, string | undefined>): Promise<number> {
  const setting = otlpSettingFromEnv(env)
  if (!setting.enabled) {
    if (setting.reason === "invalid") say(`opencode explain: ${setting.error}.`)
    else if (setting.reason === "disabled")
      say(
        "opencode explain: --otlp is turned off by OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER; unset them to send.",
      )
    else say("opencode explain: --otlp needs a receiver: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318).")
    return 2
  }
  const records = result.format === "v2" ? exportRecords(doc) : {}
  const spans = traceSpans({
    chains: result.incidents,
    ...records,
    stoppedMessages: result.stoppedMessages,
    ...(result.session?.id ? { sessionId: result.session.id } : {}),
    fallbackTimeMs: records.exportedAt ?? Date.now(),
  })
  if (spans.length === 0) {
    say("opencode explain: the file holds no incident or stopped message, so there is nothing to send.")
    return 0
  }
  // Loaded here only: explain without --otlp never loads OpenTelemetry.
  const { createSpanSender } = await import("../tracing/otlp-export.ts")
  const sender = createSpanSender(setting.config)
  const sent = await sender.send(spans)
  await sender.shutdown()
  if (!sent.ok) {
    say(`opencode explain: the receiver at ${setting.config.url} did not accept the traces: ${sent.error}`)
    return 1
  }
  for (const traceId of new Set(spans.map((span) => span.traceId))) process.stdout.write(`${traceId}\n`)
  return 0
}
