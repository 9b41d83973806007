/** `opencode export SESSION_ID`: the same document as `GET /session/:id/export`, from the data dir. */
import { randomBytes } from "node:crypto"
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { parseArgs } from "node:util"
import { createHost } from "../host.ts"
import { buildSessionExport } from "../session/export.ts"
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
    const doc = buildSessionExport(host, sessionId, values["diagnostics-only"] ? "diagnostics" : "full")
    if (!doc) {
      console.error(`opencode export: no session ${sessionId.slice(0, 80)} in ${host.dataDir}`)
      return 1
    }
    const text = `${JSON.stringify(doc, null, 2)}\n`
    if (!values.out) {
      process.stdout.write(text)
      return 0
    }
    try {
      writeOwnerOnly(values.out, text)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code
      console.error(`opencode export: cannot write ${values.out.slice(0, 200)}${code ? ` (${code})` : ""}`)
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
function writeOwnerOnly(file: string, text: string): void {
  const existing = statSync(file, { throwIfNoEntry: false })
  if (existing && !existing.isFile()) {
    writeFileSync(file, text)
    return
  }
  const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
  try {
    writeFileSync(temp, text, { mode: 0o600, flag: "wx" })
    renameSync(temp, file)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}
