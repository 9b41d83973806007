/** `opencode explain FILE`: the causal chain of each incident in plain words, for any export version. */
import { parseArgs } from "node:util"
import { explainText, readExport, type ReadSuccess } from "../provenance/index.ts"
import { exportRecords } from "../provenance/export-records.ts"
import { traceSpans } from "../provenance/trace-mapping.ts"
import { otlpSettingFromEnv } from "../tracing/otlp-config.ts"
import { visibleControls } from "../provenance/plain-text.ts"
import { decodeExportBytes } from "../provenance/node/export-bytes.ts"
import { FileRefusal, readRegularFile } from "../regular-file.ts"

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
  let text: string
  try {
    text = decodeExportBytes(await readRegularFile(file, { maxBytes: MAX_FILE_BYTES, label: "it" }))
  } catch (err) {
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
  if (text.trim() === "") {
    say(`opencode explain: ${file} is empty, so it is not a session export.`)
    return 1
  }
  const result = readExport(text)
  if (!result.ok) {
    say(`opencode explain: ${result.error}`)
    return 1
  }
  if (parsed.values.otlp) return sendOtlp(result, text, process.env)
  if (parsed.values.json) {
    const json = JSON.stringify(
      {
        format: result.format,
        version: result.version,
        warnings: result.warnings,
        notRecorded: result.notRecorded,
        unknownFields: result.unknownFields,
        incidents: result.incidents,
      },
      null,
      2,
    )
    process.stdout.write(`${escapeInvisible(json)}\n`)
  } else {
    process.stdout.write(`${explainText(result)}\n`)
  }
  return 0
}

/**
 * `--otlp`: the file's chains as traces, sent to the receiver the OTEL_* variables name (a user's
 * bug-report export in a maintainer's Jaeger). Prints one trace id a line; exit 1 when the
 * receiver refused or could not be reached, 2 when no receiver is configured.
 */
async function sendOtlp(result: ReadSuccess, text: string, env: Record<string, string | undefined>): Promise<number> {
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
  const records = result.format === "v2" ? exportRecords(text) : {}
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
