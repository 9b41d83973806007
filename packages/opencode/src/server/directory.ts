/**
 * The project directory of a request: `x-opencode-directory` (percent-decoded), else
 * `?directory=`, else the server's default directory; validated and keyed once, here.
 */
import type { Context } from "hono"
import { decodeDirectoryParam, directoryKey, validateProjectDirectory } from "../project/directory-key.ts"

export interface RequestDirectory {
  /** The directory as the client named it, resolved (shown locally, never exported). */
  directory: string
  /** The one normalised key every store uses. */
  key: string
}

/**
 * @example const { directory, key } = requestDirectory(c, defaultDirectory)
 * @throws InvalidDirectoryError (a 400 naming `directory`) for a relative, missing or non-directory path.
 */
export function requestDirectory(c: Context, defaultDirectory: string): RequestDirectory {
  const header = c.req.header("x-opencode-directory")
  const raw = header ? decodeDirectoryParam(header) : (c.req.query("directory") ?? defaultDirectory)
  const directory = validateProjectDirectory(raw)
  return { directory, key: directoryKey(directory) }
}
