/**
 * The global config (`<data dir>/config.json`, overlaid by `OPENCODE_CONFIG_CONTENT`):
 * remote workspaces and the default model. A change to the file, by our route or any program,
 * invalidates every instance (`dispose_all`, origin `config_invalidation`, scope `global`).
 */
import { stat } from "node:fs/promises"
import path from "node:path"
import { z } from "zod"
import { DirectoryLock } from "../project/directory-lock.ts"
import { MAX_CONFIG_BYTES } from "../project/instance-context.ts"
import { FileRefusal, readRegularFile } from "../regular-file.ts"

export const GlobalConfigSchema = z
  .object({
    model: z.string().max(128).optional(),
    workspaces: z
      .record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), z.object({ url: z.string().url().max(2048) }))
      .optional(),
  })
  .catchall(z.unknown())
type GlobalConfigData = z.infer<typeof GlobalConfigSchema>

export const GLOBAL_CONFIG_FILE = "config.json"

/** Own writes remembered for the watcher: more than PATCHes queue behind one another in practice. */
const WRITTEN_KEPT = 64

export class GlobalConfig {
  readonly file: string
  private readonly inline: GlobalConfigData
  /**
   * Digests our own route wrote that the watcher has not seen yet, in order, each with when it
   * was written, so the watcher's echo of one is not a second cause: the watcher reads
   * asynchronously, and may see a write after the next one began. An echo seen, or a write an
   * outside edit replaced, is forgotten: that content written again by another program is theirs.
   */
  private readonly written: { digest: string; at: number }[] = []
  private stopWatch: (() => void) | undefined
  /** Serializes PATCHes: each reads, merges, writes and closes the instances before the next reads. */
  private readonly lock = new DirectoryLock()
  /** The parsed file, kept while its identity (inode, size, mtime) is unchanged: the default model is read per prompt. */
  private cached: { stamp: string; data: GlobalConfigData } | undefined

  constructor(dataDir: string, inlineContent: string | undefined) {
    this.file = path.join(dataDir, GLOBAL_CONFIG_FILE)
    this.inline = parseInline(inlineContent)
  }

  /**
   * The file's config with the inline config over it; an unreadable file reads as `{}`. A file
   * that is not a regular file of a config's size is refused (`FileRefusal`), never read.
   */
  async read(): Promise<GlobalConfigData> {
    return this.withInline(await this.fileContent())
  }

  /** `content` (what the file holds, or is about to) with the inline config over it: what `read` answers for that file. */
  withInline(content: GlobalConfigData): GlobalConfigData {
    return { ...content, ...this.inline }
  }

  async fileContent(): Promise<GlobalConfigData> {
    let stamp: string
    try {
      const info = await stat(this.file)
      stamp = `${info.ino}:${info.size}:${info.mtimeMs}`
    } catch {
      return {}
    }
    if (this.cached?.stamp === stamp) return this.cached.data
    let data: GlobalConfigData = {}
    try {
      const bytes = await readRegularFile(this.file, { maxBytes: MAX_CONFIG_BYTES, label: GLOBAL_CONFIG_FILE })
      const parsed = GlobalConfigSchema.safeParse(JSON.parse(bytes.toString("utf8")))
      if (parsed.success) data = parsed.data
    } catch (error) {
      if (error instanceof FileRefusal && (error.code === "not_regular_file" || error.code === "too_large")) throw error
      // unreadable: read as {}
    }
    this.cached = { stamp, data }
    return data
  }

  /**
   * The default model: the config's `model` (inline over file), if any. Follows every write of
   * the file, by us or anyone; a refused file names none (its route says why).
   */
  async model(): Promise<string | undefined> {
    if (this.inline.model) return this.inline.model
    try {
      return (await this.fileContent()).model
    } catch {
      return undefined
    }
  }

  /**
   * Runs a read-modify-write of the file (and whatever it closes) after every earlier one has
   * finished, so concurrent PATCHes of different keys all survive.
   *
   * @example await globalConfig.serialized(async () => { write(merge(read(), patch)); await disposeAll() })
   */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run("global", fn)
  }

  /** Remembers a digest our route has just written (synchronously, in the turn of the write). */
  wrote(digest: string): void {
    this.written.push({ digest, at: performance.now() })
    if (this.written.length > WRITTEN_KEPT) this.written.shift()
  }

  /**
   * Whether the watcher's read of `digest`, begun at `readAt`, is the echo of a write of ours;
   * it forgets that write and every earlier one. Our writes made before the read began were on
   * disk by then: of those it is the last one with this content; else the first written since.
   * Content none of ours has is another program's: our writes made before that read are
   * forgotten, replaced by it.
   */
  isOwnWrite(digest: string, readAt: number): boolean {
    const before = this.written.filter((entry) => entry.at < readAt)
    const echoed =
      before.findLast((entry) => entry.digest === digest) ?? this.written.find((entry) => entry.digest === digest)
    if (!echoed) {
      this.written.splice(0, before.length)
      return false
    }
    this.written.splice(0, this.written.indexOf(echoed) + 1)
    return true
  }

  setWatch(stop: () => void): void {
    this.stopWatch = stop
  }

  close(): void {
    this.stopWatch?.()
  }
}

function parseInline(content: string | undefined): GlobalConfigData {
  if (!content) return {}
  try {
    const parsed = GlobalConfigSchema.safeParse(JSON.parse(content))
    return parsed.success ? parsed.data : {}
  } catch {
    console.error("OPENCODE_CONFIG_CONTENT is not valid JSON; ignored")
    return {}
  }
}
