/** `opencode export SESSION_ID`: the same document as `GET /session/:id/export`, from the data dir. */
import { existsSync, writeFileSync } from "node:fs"
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
      options: { out: { type: "string" }, "diagnostics-only": { type: "boolean", default: false }, "data-dir": { type: "string" } },
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
    if (values.out) writeFileSync(values.out, text)
    else process.stdout.write(text)
    return 0
  } finally {
    host.close()
  }
}
