/**
 * The global config (`<data dir>/config.json`, overlaid by `OPENCODE_CONFIG_CONTENT`):
 * remote workspaces and the default model. A change to the file, by our route or any program,
 * invalidates every instance (`dispose_all`, origin `config_invalidation`, scope `global`).
 */
import { readFileSync, statSync } from "node:fs"
import path from "node:path"
import { z } from "zod"
import { DirectoryLock } from "../project/directory-lock.ts"

export const GlobalConfigSchema = z
  .object({
    model: z.string().max(128).optional(),
    workspaces: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), z.object({ url: z.string().url().max(2048) })).optional(),
  })
  .catchall(z.unknown())
export type GlobalConfigData = z.infer<typeof GlobalConfigSchema>

export const GLOBAL_CONFIG_FILE = "config.json"

export class GlobalConfig {
  readonly file: string
  private readonly inline: GlobalConfigData
  /** The digest our own route last wrote, so the watcher's echo of it is not a second cause. */
  expectedDigest: string | undefined
  private stopWatch: (() => void) | undefined
  /** Serializes PATCHes: each reads, merges, writes and closes the instances before the next reads. */
  private readonly lock = new DirectoryLock()
  /** The parsed file, kept while its identity (inode, size, mtime) is unchanged: the default model is read per prompt. */
  private cached: { stamp: string; data: GlobalConfigData } | undefined

  constructor(dataDir: string, inlineContent: string | undefined) {
    this.file = path.join(dataDir, GLOBAL_CONFIG_FILE)
    this.inline = parseInline(inlineContent)
  }

  /** The file's config with the inline config over it; an unreadable file reads as `{}`. */
  read(): GlobalConfigData {
    return { ...this.fileContent(), ...this.inline }
  }

  fileContent(): GlobalConfigData {
    let stamp: string
    try {
      const stat = statSync(this.file)
      stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`
    } catch {
      return {}
    }
    if (this.cached?.stamp === stamp) return this.cached.data
    let data: GlobalConfigData = {}
    try {
      const parsed = GlobalConfigSchema.safeParse(JSON.parse(readFileSync(this.file, "utf8")))
      if (parsed.success) data = parsed.data
    } catch {
      // unreadable: read as {}
    }
    this.cached = { stamp, data }
    return data
  }

  /** The default model: the config's `model` (inline over file), if any. Follows every write of the file, by us or anyone. */
  model(): string | undefined {
    return this.inline.model ?? this.fileContent().model
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
