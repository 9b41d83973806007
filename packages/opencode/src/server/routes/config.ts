/**
 * Config routes. A PATCH merges the body's keys into the config file, a PUT replaces the whole
 * file (the only way to delete a key); either writes under the file's lock and closes the
 * instance(s) itself with a `config_invalidation` origin whose request is this one, so the
 * watcher's echo of that same write is recorded on the runs, never as a rival cause. A write
 * that changes nothing closes nothing. GET names the file's digest in `ETag`; a write with
 * `If-Match` goes ahead only while the file still has that digest (else 412 `config_changed`),
 * so an edit made on disk since the client read the file is never overwritten silently.
 *
 * The file a write would make is held to the size the readers accept (MAX_CONFIG_BYTES), in its
 * written, pretty-printed form and after a PATCH's merge: over it is `413 config_too_large`
 * before anything is written or closed, so a write never leaves a file every route then refuses.
 * A file already over it (written by another program) is never read whole: GET and PATCH refuse
 * it (`400 file_too_large`, saying to PUT a replacement), and a PUT replaces it, its `If-Match`
 * compared with the digest of its bytes, streamed. Every check that can refuse runs before the
 * write; nothing after the write turns the answer into an error.
 */
import { createHash, randomBytes } from "node:crypto"
import { writeFileSync, renameSync, rmSync } from "node:fs"
import path from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Hono, type Context } from "hono"
import { z } from "zod"
import type { Host } from "../../host.ts"
import { CONFIG_FILE, contentDigest, MAX_CONFIG_BYTES } from "../../project/instance-context.ts"
import { FileRefusal, readRegularFile, readRegularFileChunks } from "../../regular-file.ts"
import { GLOBAL_CONFIG_FILE, GlobalConfigSchema } from "../../config/global-config.ts"
import { ProviderError } from "../../provider/provider.ts"
import { requestDirectory } from "../directory.ts"
import { ApiError, parseInput, parseJsonBody, scrubForLog } from "../errors.ts"
import { requestIdOf } from "../middleware/request-context.ts"
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
    const before = await readExisting(file)
    c.header("etag", await etagOfExisting(file, before))
    if (before.oversize) throw oversizeRefusal(CONFIG_FILE, "read")
    return c.json(parseConfig(before.raw))
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
      const before = await readExisting(file)
      // A merge needs the old file's keys; one too large to read can only be replaced.
      if (mode === "merge" && before.oversize) throw oversizeRefusal(CONFIG_FILE, "merge")
      await checkIfMatch(c, ifMatch, file, before, CONFIG_FILE)
      // A replace needs nothing of the old file, so it also mends one that is not a JSON object.
      const next = mode === "merge" ? { ...parseConfig(before.raw), ...body } : body
      // Equal values (whatever the file's formatting or key order) change nothing: no write, no close.
      if (before.raw !== undefined && isDeepStrictEqual(parsedOrUndefined(before.raw), next)) {
        c.header("etag", etagOf(before.raw))
        return next
      }
      const text = writableText(next, CONFIG_FILE, mode)
      writeAtomically(file, text)
      // Expected once written (in the same turn, before the watcher can look), as the global
      // file's writes are: a write that failed leaves no digest for a later file to be taken by.
      const instance = instances.get(key)
      if (instance) instance.expectedConfigDigest = contentDigest(text)
      // Written: from here on nothing may turn the answer into an error.
      c.header("etag", etagOf(text))
      if (instance) {
        await afterWrite(c, () =>
          instances.disposeDirectory(
            key,
            {
              kind: "config_invalidation",
              scope: "project",
              fileKey: redactor.digest(`${key}/${CONFIG_FILE}`),
              change: before.exists ? "modified" : "created",
              ...(request ? { request } : {}),
              writtenByRoute: true,
            },
            { locked: true },
          ),
        )
      }
      return next
    })
    return c.json(next)
  }

  app.patch("/config", (c) => writeProjectConfig(c, "merge"))
  app.put("/config", (c) => writeProjectConfig(c, "replace"))

  app.get("/global/config", async (c) => {
    const file = host.globalConfig.file
    const before = await readExisting(file)
    c.header("etag", await etagOfExisting(file, before))
    if (before.oversize) throw oversizeRefusal(GLOBAL_CONFIG_FILE, "read")
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
    // The answer is worked out before the write: a read of the file after it could fail, and
    // an error answer must mean nothing was written and nothing closed.
    const answer = await host.globalConfig.serialized(async () => {
      const before = await readExisting(file)
      if (mode === "merge" && before.oversize) throw oversizeRefusal(GLOBAL_CONFIG_FILE, "merge")
      await checkIfMatch(c, ifMatch, file, before, GLOBAL_CONFIG_FILE)
      const next = mode === "merge" ? { ...(await host.globalConfig.fileContent()), ...body } : body
      if (before.raw !== undefined && isDeepStrictEqual(parsedOrUndefined(before.raw), next)) {
        c.header("etag", etagOf(before.raw))
        return host.globalConfig.read()
      }
      const text = writableText(next, GLOBAL_CONFIG_FILE, mode)
      const answer = host.globalConfig.withInline(next)
      // The data dir's files are the owner's alone.
      writeAtomically(file, text, 0o600)
      // Remembered once written (in the same turn, before the watcher can look): a write that
      // failed is no echo to wait for, and the same content from another program later is theirs.
      host.globalConfig.wrote(contentDigest(text))
      // Written: from here on nothing may turn the answer into an error.
      c.header("etag", etagOf(text))
      await afterWrite(c, () =>
        instances.disposeAll({
          kind: "config_invalidation",
          scope: "global",
          fileKey: redactor.digest(file),
          change: before.exists ? "modified" : "created",
          ...(request ? { request } : {}),
          writtenByRoute: true,
        }),
      )
      return answer
    })
    return c.json(answer)
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
async function checkIfMatch(
  c: Context,
  ifMatch: string | undefined,
  file: string,
  before: Existing,
  name: string,
): Promise<void> {
  if (ifMatch === undefined) return
  const etag = await etagOfExisting(file, before)
  if (ifMatch === etag) return
  c.header("etag", etag)
  throw new ApiError(412, "config_changed", `${name} changed since it was read; read it again before saving`)
}

/** The limit in words, as the refusals name it. */
const LIMIT_TEXT = MAX_CONFIG_BYTES % 2 ** 20 === 0 ? `${MAX_CONFIG_BYTES / 2 ** 20} MiB` : `${MAX_CONFIG_BYTES} bytes`

/**
 * The text a write puts in the file, or `413 config_too_large` when it is over the size every
 * reader of the file accepts: written, it would make the file unreadable to every config route.
 */
function writableText(next: unknown, name: string, mode: "merge" | "replace"): string {
  const text = `${JSON.stringify(next, null, 2)}\n`
  const bytes = Buffer.byteLength(text, "utf8")
  if (bytes > MAX_CONFIG_BYTES)
    throw new ApiError(
      413,
      "config_too_large",
      `the ${name} this ${mode === "merge" ? "PATCH" : "PUT"} would write is ${bytes} bytes, over the ${LIMIT_TEXT} a config file may be; nothing was written`,
    )
  return text
}

/** `400 file_too_large` for a file already over the limit: what to do about it, in words. */
function oversizeRefusal(name: string, use: "read" | "merge"): ApiError {
  const why = use === "merge" ? "so a PATCH cannot merge into it" : "so it is not read"
  return new ApiError(
    400,
    "file_too_large",
    `${name} is larger than ${LIMIT_TEXT}, ${why}; PUT a replacement (the whole config) to mend it`,
  )
}

/**
 * What follows a write that has happened (closing the instances): a failure there is logged
 * and recorded by the close itself, never answered as an error, since the file is written.
 */
async function afterWrite(c: Context, step: () => Promise<unknown>): Promise<void> {
  try {
    await step()
  } catch (error) {
    console.error(`[${requestIdOf(c) ?? "no request id"}] config written, but closing failed: ${scrubForLog(error)}`)
  }
}

/**
 * The file as a write finds it: its text (undefined when there is none), whether it exists, and
 * whether it is over the limit, in which case it was not read (its ETag is streamed when needed).
 */
interface Existing {
  raw: string | undefined
  exists: boolean
  oversize: boolean
}

async function readExisting(file: string): Promise<Existing> {
  try {
    const raw = await readRaw(file)
    return { raw, exists: raw !== undefined, oversize: false }
  } catch (error) {
    if (error instanceof FileRefusal && error.code === "too_large")
      return { raw: undefined, exists: true, oversize: true }
    throw error
  }
}

/** The file's ETag: of its text, or for a file over the limit, of its bytes read a chunk at a time. */
async function etagOfExisting(file: string, before: Existing): Promise<string> {
  if (!before.oversize) return etagOf(before.raw)
  const hash = createHash("sha256")
  try {
    // Any size: memory stays one chunk, whatever the file holds.
    for await (const chunk of readRegularFileChunks(file, {
      maxBytes: Number.MAX_SAFE_INTEGER,
      label: path.basename(file),
    }))
      hash.update(chunk)
  } catch (error) {
    // Gone since it was found too large: there is no file.
    if (error instanceof FileRefusal && error.code === "not_found") return etagOf(undefined)
    if (error instanceof FileRefusal && error.code === "unreadable")
      throw new ApiError(409, "config_unreadable", `${error.message}; fix it or remove it first`)
    throw error
  }
  return `"${hash.digest("hex")}"`
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
  try {
    writeFileSync(temp, text, mode === undefined ? {} : { mode })
    renameSync(temp, file)
  } catch (error) {
    // The file is as it was; leave no temp file beside it.
    rmSync(temp, { force: true })
    throw error
  }
}
