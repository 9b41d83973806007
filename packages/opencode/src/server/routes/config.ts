/**
 * Config routes. A PATCH merges the body's keys into the config file, a PUT replaces the whole
 * file (the only way to delete a key); either writes under the file's lock and closes the
 * instance(s) itself with a `config_invalidation` origin whose request is this one, so the
 * watcher's echo of that same write is recorded on the runs, never as a rival cause. A write
 * that changes nothing closes nothing. GET names the file's digest in `ETag`; a write with
 * `If-Match` goes ahead only while the file still has that digest (else 412 `config_changed`),
 * so an edit made on disk since the client read the file is never overwritten silently.
 */
import { randomBytes } from "node:crypto"
import { writeFileSync, renameSync } from "node:fs"
import path from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Hono, type Context } from "hono"
import { z } from "zod"
import type { Host } from "../../host.ts"
import { CONFIG_FILE, contentDigest, MAX_CONFIG_BYTES } from "../../project/instance-context.ts"
import { FileRefusal, readRegularFile } from "../../regular-file.ts"
import { GLOBAL_CONFIG_FILE, GlobalConfigSchema } from "../../config/global-config.ts"
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

  /**
   * Writes the project's config: `merge` (PATCH) sets the body's keys over the file's, `replace`
   * (PUT) makes the body the whole file, so a key left out is deleted.
   */
  const writeProjectConfig = async (c: Context, mode: "merge" | "replace") => {
    const body = await parseJsonBody(c, ConfigPatch)
    const ifMatch = ifMatchOf(c)
    const { directory, key } = requestDirectory(c, defaultDirectory)
    const file = path.join(directory, CONFIG_FILE)
    const request = requestRefOf(c)
    const next = await instances.locks.run(key, async () => {
      const before = await readRaw(file)
      checkIfMatch(c, ifMatch, before, CONFIG_FILE)
      // A replace needs nothing of the old file, so it also mends one that is not a JSON object.
      const next = mode === "merge" ? { ...parseConfig(before), ...body } : body
      // Equal values (whatever the file's formatting or key order) change nothing: no write, no close.
      if (before !== undefined && isDeepStrictEqual(parsedOrUndefined(before), next)) {
        c.header("etag", etagOf(before))
        return next
      }
      const text = `${JSON.stringify(next, null, 2)}\n`
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
      return next
    })
    return c.json(next)
  }

  app.patch("/config", (c) => writeProjectConfig(c, "merge"))
  app.put("/config", (c) => writeProjectConfig(c, "replace"))

  app.get("/global/config", async (c) => {
    c.header("etag", etagOf(await readRaw(host.globalConfig.file)))
    return c.json(await host.globalConfig.read())
  })

  /** Writes the global config file: `merge` (PATCH) or `replace` (PUT), as for the project's. */
  const writeGlobalConfig = async (c: Context, mode: "merge" | "replace") => {
    const body = parseInput(GlobalConfigSchema, await parseJsonBody(c, ConfigPatch))
    const ifMatch = ifMatchOf(c)
    if (body.model !== undefined) {
      // The model becomes the default of every prompt that names none: refuse one no provider serves.
      try {
        host.providers.resolve(body.model)
      } catch (err) {
        if (err instanceof ProviderError) throw new ApiError(400, "invalid_body", `model: ${err.message}`)
        throw err
      }
    }
    const file = host.globalConfig.file
    const request = requestRefOf(c)
    await host.globalConfig.serialized(async () => {
      const before = await readRaw(file)
      checkIfMatch(c, ifMatch, before, GLOBAL_CONFIG_FILE)
      const next = mode === "merge" ? { ...(await host.globalConfig.fileContent()), ...body } : body
      if (before !== undefined && isDeepStrictEqual(parsedOrUndefined(before), next)) {
        c.header("etag", etagOf(before))
        return
      }
      const text = `${JSON.stringify(next, null, 2)}\n`
      host.globalConfig.wrote(contentDigest(text))
      // The data dir's files are the owner's alone.
      writeAtomically(file, text, 0o600)
      c.header("etag", etagOf(text))
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
  }

  app.patch("/global/config", (c) => writeGlobalConfig(c, "merge"))
  app.put("/global/config", (c) => writeGlobalConfig(c, "replace"))

  return app
}

/** The request's `If-Match`, trimmed; a malformed one is a 400 before anything is read. */
function ifMatchOf(c: Context): string | undefined {
  const ifMatch = c.req.header("if-match")?.trim()
  if (ifMatch !== undefined && !IF_MATCH.test(ifMatch))
    throw new ApiError(400, "invalid_header", 'if-match: expected the ETag the GET answered ("<sha256>" or "none")')
  return ifMatch
}

/** Refuses (412, with the file's current ETag) a write whose If-Match no longer names the file. */
function checkIfMatch(c: Context, ifMatch: string | undefined, before: string | undefined, name: string): void {
  if (ifMatch === undefined || ifMatch === etagOf(before)) return
  c.header("etag", etagOf(before))
  throw new ApiError(412, "config_changed", `${name} changed since it was read; read it again before saving`)
}

/**
 * The file's text, or undefined when there is none. A non-regular or oversized file is refused
 * (400); one that exists but cannot be read is a 409: read as absent, its ETag would be "none"
 * and a write would replace a file nobody could see.
 */
async function readRaw(file: string): Promise<string | undefined> {
  try {
    return (await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES, label: path.basename(file) })).toString("utf8")
  } catch (error) {
    if (error instanceof FileRefusal && error.code === "not_found") return undefined
    if (error instanceof FileRefusal && error.code === "unreadable")
      throw new ApiError(409, "config_unreadable", `${error.message}; fix it or remove it first`)
    throw error
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
