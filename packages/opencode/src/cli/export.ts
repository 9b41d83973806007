/** `opencode export SESSION_ID`: the same document as `GET /session/:id/export`, from the data dir. */
import { randomBytes } from "node:crypto"
import { existsSync, renameSync, rmSync, statSync } from "node:fs"
import { open } from "node:fs/promises"
import path from "node:path"
import { parseArgs } from "node:util"
import { createHost } from "../host.ts"
import { sessionExportText } from "../session/export.ts"
import { writeJsonText } from "../session/json-text.ts"
import { resolveDataDir } from "./data-dir.ts"

export async function runExport(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: {
        out: { type: "string" },
        "diagnostics-only": { type: "boolean", default: false },
        "data-dir": { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    console.error(`opencode export: ${err instanceof Error ? err.message : String(err)}`)
    return 2
  }
  const { values, positionals } = parsed
  const sessionId = positionals[0]
  if (!sessionId) {
    console.error("opencode export: name the session, e.g. opencode export ses_… [--out FILE]")
    return 1
  }
  const dataDir = resolveDataDir(values["data-dir"])
  // Reading must not create an empty database where there was none (a mistyped --data-dir).
  if (!existsSync(path.join(dataDir, "opencode.db"))) {
    console.error(`opencode export: no opencode data in ${dataDir} (pass --data-dir or set OPENCODE_DATA_DIR).`)
    return 1
  }
  const host = createHost({ dataDir, readOnly: true })
  try {
    // Written as it is read (the route's pieces, indented), never held whole.
    const text = sessionExportText(host, sessionId, values["diagnostics-only"] ? "diagnostics" : "full", { indent: 2 })
    if (!text) {
      console.error(`opencode export: no session ${sessionId.slice(0, 80)} in ${host.dataDir}`)
      return 1
    }
    const document = (function* () {
      yield* text
      yield "\n"
    })()
    try {
      await (values.out ? writeOwnerOnly(values.out, document) : writeJsonText(document, writeStdout))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code
      const target = values.out ? values.out.slice(0, 200) : "to stdout"
      console.error(`opencode export: cannot write ${target}${code ? ` (${code})` : ""}`)
      return 1
    }
    return 0
  } finally {
    host.close()
  }
}

/**
 * Writes the export 0600 whatever the umask: it can hold a session's history. An existing
 * regular file is replaced (a temp file renamed over it), so it ends up 0600 too rather than
 * keeping a wider mode; anything else (`/dev/stdout`, a pipe) is written as it is.
 */
async function writeOwnerOnly(file: string, document: Iterator<string, void, undefined>): Promise<void> {
  const existing = statSync(file, { throwIfNoEntry: false })
  if (existing && !existing.isFile()) {
    const handle = await open(file, "w")
    try {
      await writeJsonText(document, (chunk) => handle.write(chunk))
    } finally {
      await handle.close()
    }
    return
  }
  const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
  try {
    const handle = await open(temp, "wx", 0o600)
    try {
      await writeJsonText(document, (chunk) => handle.write(chunk))
    } finally {
      await handle.close()
    }
    renameSync(temp, file)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}

const expectedWriteError = () => {}

/**
 * Writes to stdout, waiting for each write to be taken (a pipe to a slow reader). A reader that
 * went away (`| head`) fails the write; stdout's own error event is then expected, not a crash.
 */
function writeStdout(chunk: string): Promise<void> {
  if (!process.stdout.listeners("error").includes(expectedWriteError)) process.stdout.on("error", expectedWriteError)
  return new Promise((resolve, reject) => {
    process.stdout.write(chunk, (err) => (err ? reject(err) : resolve()))
  })
}
