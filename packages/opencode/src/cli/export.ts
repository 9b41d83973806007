/** `opencode export SESSION_ID`: the same document as `GET /session/:id/export`, from the data dir. */
import { randomBytes } from "node:crypto"
import { existsSync, realpathSync, renameSync, rmSync, statSync } from "node:fs"
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
  if (!sessionId || positionals.length > 1) {
    console.error(
      positionals.length > 1
        ? `opencode export: one session at a time; ${positionals.length} were named`
        : "opencode export: name the session, e.g. opencode export ses_… [--out FILE]",
    )
    return 2
  }
  if (values.out === "") {
    console.error("opencode export: --out needs a file name (leave it out to write to stdout)")
    return 2
  }
  const dataDir = resolveDataDir(values["data-dir"])
  // The data dir holds the database the export is read from: a file written there could replace it.
  if (values.out !== undefined && isInside(path.resolve(values.out), dataDir)) {
    console.error(`opencode export: --out is inside the data dir (${dataDir}); write the export somewhere else`)
    return 2
  }
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
      try {
        yield* text
      } catch (err) {
        // The data dir failed mid-way: told apart from a write that failed.
        throw new ReadFault(err as NodeJS.ErrnoException | undefined)
      }
      yield "\n"
    })()
    const out = values.out
    try {
      await (out ? writeOwnerOnly(out, document) : writeJsonText(document, writeStdout))
    } catch (err) {
      const read = err instanceof ReadFault
      const code = (read ? err.fault : (err as NodeJS.ErrnoException | undefined))?.code
      const because = typeof code === "string" ? ` (${code.slice(0, 40)})` : ""
      const target = out ? out.slice(0, 200) : "to stdout"
      if (!read) console.error(`opencode export: cannot write ${target}${because}`)
      else {
        // A regular file is written to a temp file, removed on failure; anything else has the pages written so far.
        const left = !out
          ? "the output is cut short"
          : writtenInPlace(out)
            ? `${target} is cut short`
            : `${target} was not written`
        console.error(
          `opencode export: reading session ${sessionId.slice(0, 80)} from ${host.dataDir} failed${because}; ${left}`,
        )
      }
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
  if (writtenInPlace(file)) {
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

/** Whether `file` exists and is not a regular file (`/dev/stdout`, a pipe): written as it is, not through a temp file. */
function writtenInPlace(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() === false
}

/** A fault reading the session (not writing it), with what the data dir threw. */
class ReadFault extends Error {
  constructor(readonly fault: NodeJS.ErrnoException | undefined) {
    super("reading the session failed")
    this.name = "ReadFault"
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

/** Whether `file` is in `dir` or below it, links resolved as far as they exist (the file itself may not yet). */
function isInside(file: string, dir: string): boolean {
  const real = (target: string): string => {
    try {
      return realpathSync(target)
    } catch {
      const parent = path.dirname(target)
      return parent === target ? target : path.join(real(parent), path.basename(target))
    }
  }
  const relative = path.relative(real(dir), real(file))
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative))
}
