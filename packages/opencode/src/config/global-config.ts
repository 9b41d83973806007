/**
 * The global config (`<data dir>/config.json`, overlaid by `OPENCODE_CONFIG_CONTENT`):
 * remote workspaces and the default model. A change to the file, by our route or any program,
 * invalidates every instance (`dispose_all`, origin `config_invalidation`, scope `global`).
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { z } from "zod"

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

  constructor(dataDir: string, inlineContent: string | undefined) {
    this.file = path.join(dataDir, GLOBAL_CONFIG_FILE)
    this.inline = parseInline(inlineContent)
  }

  /** The file's config with the inline config over it; an unreadable file reads as `{}`. */
  read(): GlobalConfigData {
    return { ...this.fileContent(), ...this.inline }
  }

  fileContent(): GlobalConfigData {
    try {
      const parsed = GlobalConfigSchema.safeParse(JSON.parse(readFileSync(this.file, "utf8")))
      return parsed.success ? parsed.data : {}
    } catch {
      return {}
    }
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
