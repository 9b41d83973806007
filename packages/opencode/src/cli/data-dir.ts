import os from "node:os"
import path from "node:path"

/** `--data-dir`, else `OPENCODE_DATA_DIR`, else `$XDG_DATA_HOME/opencode-provenance`. */
export function resolveDataDir(flag: string | undefined, env = process.env): string {
  if (flag) return path.resolve(flag)
  if (env.OPENCODE_DATA_DIR) return path.resolve(env.OPENCODE_DATA_DIR)
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share")
  return path.join(base, "opencode-provenance")
}
