/** `opencode explain FILE`: the causal chain of each incident in plain words, for any export version. */
import { parseArgs } from "node:util"
import v8 from "node:v8"
import { runInNewContext } from "node:vm"
import { explainText, type ReadSuccess } from "../provenance/index.ts"
import { explainHead, explainTail, incidentBlock } from "../provenance/explain.ts"
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
  if (!file || parsed.positionals.length > 1) {
    console.error(
      file
        ? `opencode explain: one file at a time; ${parsed.positionals.length} were named`
        : "opencode explain: name the export file, e.g. opencode explain export.json",
    )
    return 2
  }
  const read = (lists: Parameters<typeof scanExport>[1]) =>
    scanExport(
      decodeExportChunks(collecting(readRegularFileChunks(file, { maxBytes: MAX_FILE_BYTES, label: "it" }))),
      lists,
    )
  const mode = parsed.values.otlp ? "otlp" : parsed.values.json ? "json" : "text"
  // The file is read as a stream, never held whole, and more than once. The first pass reads all
  // but the file's own incidents (its messages only as far as the reader reads them); later passes
  // hand each incident to the reader in turn, after the records it is checked against.
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
  // The file's parsed value: a file whose JSON is a string is refused, never read as JSON text again.
  const parts = readExportInParts(doc, claimCount)
  if (!parts.ok) {
    say(`opencode explain: ${parts.error}`)
    return 1
  }
  if (!("claim" in parts)) return print(mode, parts, [], doc)
  if (claimCount === 0) return print(mode, parts.finish(), [], doc)
  // Each claim of the file's last incidents list (a repeated key's last list is the one kept), in turn.
  const claims = async (
    visit: (raw: unknown) => void,
    between?: () => Promise<void> | undefined,
  ): Promise<number | undefined> => {
    let seen = 0
    try {
      await read({
        lists: {
          incidents: (raw, occurrence) => {
            if (occurrence !== lastIncidents) return
            seen++
            visit(raw)
          },
        },
        skip: (key) => key !== "incidents",
        between,
      })
    } catch (err) {
      return refused(err, file)
    }
    if (seen === claimCount) return undefined
    say(`opencode explain: ${file} changed while it was read; run explain again once it is written.`)
    return 1
  }
  if (mode !== "text") {
    // --json and --otlp print every chain in one document: these hold them.
    const chains: IncidentChain[] = []
    const failed = await claims((raw) => {
      const chain = parts.claim(raw)
      if (chain) chains.push(chain)
    })
    return failed ?? print(mode, parts.finish(), chains, doc)
  }
  // The text: the header says how many incidents there are and what was wrong with them, so the
  // claims are read once for that and once more to write each one's block as it is read.
  const again = readExportInParts(doc, claimCount)
  // The same document read the same way a second time: it cannot fail where the first did not.
  if (!again.ok || !("claim" in again)) return 1
  // The reader keeps what it read of the document; the document itself is let go before the passes.
  doc = undefined
  let claimed = 0
  const failed = await claims((raw) => {
    if (parts.claim(raw)) claimed++
  })
  if (failed !== undefined) return failed
  const result = parts.finish()
  // The derived chains a claim replaced are counted once, as claims.
  const count = result.incidents.length + claimed
  const out = new LineWriter()
  for (const line of explainHead(result, count)) out.line(line)
  for (const [index, chain] of result.incidents.entries()) out.line(incidentBlock(chain, index + 1))
  let n = result.incidents.length
  const failedAgain = await claims(
    (raw) => {
      const chain = again.claim(raw)
      if (chain) out.line(incidentBlock(chain, ++n))
    },
    () => out.drained(),
  )
  if (failedAgain !== undefined) return failedAgain
  for (const line of explainTail(result)) out.line(line)
  await out.end()
  return 0
}

/**
 * `mode`'s output of a result read whole (`more` are the chains beyond its own). --json and
 * --otlp print every chain in one document, so they hold them.
 */
async function print(
  mode: "text" | "json" | "otlp",
  result: ReadSuccess,
  more: IncidentChain[],
  doc: unknown,
): Promise<number> {
  const incidents = [...result.incidents, ...more]
  if (mode === "otlp") return sendOtlp({ ...result, incidents }, doc, process.env)
  if (mode === "json") {
    const json = JSON.stringify(
      {
        format: result.format,
        version: result.version,
        warnings: result.warnings,
        notRecorded: result.notRecorded,
        unknownFields: result.unknownFields,
        incidents,
      },
      null,
      2,
    )
    process.stdout.write(`${escapeInvisible(json)}\n`)
  } else process.stdout.write(`${explainText({ ...result, incidents })}\n`)
  return 0
}

/** Lines to stdout in batches of about 64 kB; `drained` says when stdout has taken what it was given. */
class LineWriter {
  private batch = ""
  private first = true
  private waiting: Promise<void> | undefined

  line(text: string): void {
    this.batch += this.first ? text : `\n${text}`
    this.first = false
    if (this.batch.length >= 64 * 1024) this.flush()
  }

  drained(): Promise<void> | undefined {
    return this.waiting
  }

  async end(): Promise<void> {
    this.batch += "\n"
    this.flush()
    await this.waiting
  }

  private flush(): void {
    const taken = process.stdout.write(this.batch)
    this.batch = ""
    if (!taken)
      this.waiting ??= new Promise((resolve) =>
        process.stdout.once("drain", () => {
          this.waiting = undefined
          resolve()
        }),
      )
  }
}

/**
 * A full garbage collection. V8 lets its heap grow to several times what is live before it
 * collects, and each pass over a large file makes garbage of about the file's size (parsed
 * records, text chunks): collecting every 8 MB read keeps explain's peak near what it holds.
 */
let collector: (() => void) | undefined
function collect(): void {
  // Made on first use: only `explain` sets the flag, never `serve`, which imports this module too.
  if (!collector) {
    v8.setFlagsFromString("--expose-gc")
    collector = runInNewContext("gc") as () => void
  }
  collector()
}

/** The chunks, with a collection after every 8 MB of them. */
async function* collecting(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let bytes = 0
  for await (const chunk of chunks) {
    bytes += chunk.length
    if (bytes >= 8 * 1024 * 1024) {
      bytes = 0
      collect()
    }
    yield chunk
  }
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
    say(
      `opencode explain: the receiver at ${endpointWords(setting.config.url)} did not accept the traces: ${withoutUserinfo(sent.error)}`,
    )
    return 1
  }
  for (const traceId of new Set(spans.map((span) => span.traceId))) process.stdout.write(`${traceId}\n`)
  return 0
}

/**
 * The receiver's URL as a message may show it: origin and path only. Its user name and password
 * (an endpoint's credentials are secrets, and stderr is what a user pastes into a bug report) and
 * its query and fragment (where a token may ride) are left out.
 *
 * @example endpointWords("http://user:pw@host:4318/v1/traces?key=k") // "http://host:4318/v1/traces"
 */
function endpointWords(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return "the configured endpoint"
  }
}

/** An exporter's error with any URL's user name and password taken out (it may quote the endpoint). */
function withoutUserinfo(text: string): string {
  return text.replace(/\/\/[^/?#@\s]*@/g, "//")
}
