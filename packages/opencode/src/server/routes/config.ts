/**
 * Config routes. A PATCH writes the config file under the directory lock and closes the
 * instance itself with a `config_invalidation` origin whose request is this PATCH; the
 * watcher's echo of that same write is recorded on the runs, never as a rival cause. A write
 * that changes nothing closes nothing. GET names the file's digest in `ETag`; a PATCH with
 * `If-Match` writes only while the file still has that digest (else 412 `config_changed`), so an
 * edit made on disk since the client read the file is never overwritten silently.
 */
import { randomBytes } from "node:crypto"
import { writeFileSync, renameSync } from "node:fs"
import path from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Hono } from "hono"
import { z } from "zod"
import type { Host } from "../../host.ts"
import { CONFIG_FILE, contentDigest, MAX_CONFIG_BYTES } from "../../project/instance-context.ts"
import { FileRefusal, readRegularFile } from "../../regular-file.ts"
import { GlobalConfigSchema } from "../../config/global-config.ts"
import { ProviderError } from "../../provider/provider.ts"
import { requestDirectory } from "../directory.ts"
import { ApiError, parseInput, parseJsonBody } from "../errors.ts"
import { requestRefOf } from "../origin.ts"

const ConfigPatch = z.record(z.string().max(128), z.unknown())
/** A strong ETag: the file's sha256, or "none" when there is no file. */
const IF_MATCH = /^"([0-9a-f]{64}|none)"$/

/** The ETag of a config file's current bytes. */
function etagOf(raw: string | undefined): string {
  return `"${raw === undefined ? "none" : contentDigest(raw)}"`
}

export function configRoutes(host: Host, defaultDirectory: string): Hono {
  const app = new Hono()
  const { instances, redactor } = host

  app.get("/config", async (c) => {
    const { directory } = requestDirectory(c, defaultDirectory)
    const file = path.join(directory, CONFIG_FILE)
    const raw = await readRaw(file)
    c.header("etag", etagOf(raw))
    return c.json(parseConfig(raw))
  })

  app.patch("/config", async (c) => {
    const patch = await parseJsonBody(c, ConfigPatch)
    const ifMatch = c.req.header("if-match")
    if (ifMatch !== undefined && !IF_MATCH.test(ifMatch.trim())) throw new ApiError(400, "invalid_header", 'if-match: expected the ETag GET /config answered ("<sha256>" or "none")')
    const { directory, key } = requestDirectory(c, defaultDirectory)
    const file = path.join(directory, CONFIG_FILE)
    const request = requestRefOf(c)
    const next = await instances.locks.run(key, async () => {
      const before = await readRaw(file)
      if (ifMatch !== undefined && ifMatch.trim() !== etagOf(before)) {
        c.header("etag", etagOf(before))
        throw new ApiError(412, "config_changed", `${CONFIG_FILE} changed since it was read; read it again before saving`)
      }
      const merged = { ...parseConfig(before), ...patch }
      // Equal values (whatever the file's formatting or key order) change nothing: no write, no close.
      if (before !== undefined && isDeepStrictEqual(parsedOrUndefined(before), merged)) {
        c.header("etag", etagOf(before))
        return merged
      }
      const text = `${JSON.stringify(merged, null, 2)}\n`
      const instance = instances.get(key)
      if (instance) instance.expectedConfigDigest = contentDigest(text)
      writeAtomically(file, text)
      c.header("etag", etagOf(text))
      if (instance) {
        await instances.disposeDirectory(
          key,
          {
            kind: "config_invalidation",
            scope: "project",
            fileKey: redactor.digest(`${key}/${CONFIG_FILE}`),
            change: before === undefined ? "created" : "modified",
            ...(request ? { request } : {}),
            writtenByRoute: true,
          },
          { locked: true },
        )
      }
      return merged
    })
    return c.json(next)
  })

  app.get("/global/config", async (c) => c.json(await host.globalConfig.read()))

  app.patch("/global/config", async (c) => {
    const patch = parseInput(GlobalConfigSchema, await parseJsonBody(c, ConfigPatch))
    if (patch.model !== undefined) {
      // The model becomes the default of every prompt that names none: refuse one no provider serves.
      try {
        host.providers.resolve(patch.model)
      } catch (err) {
        if (err instanceof ProviderError) throw new ApiError(400, "invalid_body", `model: ${err.message}`)
        throw err
      }
    }
    const file = host.globalConfig.file
    const request = requestRefOf(c)
    await host.globalConfig.serialized(async () => {
      const before = await readRaw(file)
      const current = await host.globalConfig.fileContent()
      const merged = { ...current, ...patch }
      if (before !== undefined && isDeepStrictEqual(parsedOrUndefined(before), merged)) return
      const text = `${JSON.stringify(merged, null, 2)}\n`
      host.globalConfig.wrote(contentDigest(text))
      // The data dir's files are the owner's alone.
      writeAtomically(file, text, 0o600)
      await instances.disposeAll({
        kind: "config_invalidation",
        scope: "global",
        fileKey: redactor.digest(file),
        change: before === undefined ? "created" : "modified",
        ...(request ? { request } : {}),
        writtenByRoute: true,
      })
    })
    return c.json(await host.globalConfig.read())
  })

  return app
}

/** The file's text; undefined when there is none or it cannot be read; a non-regular or oversized file is refused (400). */
async function readRaw(file: string): Promise<string | undefined> {
  try {
    return (await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES, label: path.basename(file) })).toString("utf8")
  } catch (error) {
    if (error instanceof FileRefusal && (error.code === "not_regular_file" || error.code === "too_large")) throw error
    return undefined
  }
}

function parseConfig(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {}
  try {
    const parsed = JSON.parse(raw) as unknown
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  } catch {
    // fall through
  }
  throw new ApiError(409, "config_unreadable", `${CONFIG_FILE} is not a JSON object; fix or remove it first`)
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

function writeAtomically(file: string, text: string, mode?: number): void {
  // Unique per write: two writers of one file (two servers, or a write racing another) never share a temp file.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
  writeFileSync(temp, text, mode === undefined ? {} : { mode })
  renameSync(temp, file)
}
