/**
 * The project directory of a request: `x-opencode-directory` (percent-decoded), else
 * `?directory=`, else the server's default directory; validated and keyed once, here.
 */
import type { Context } from "hono"
import { decodeDirectoryParam, directoryKey, validateProjectDirectory } from "../project/directory-key.ts"

interface RequestDirectory {
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
  // Resolved once per request (the request-context middleware, the instance middleware and the
  // route each ask; each answer costs a stat and a realpath, measured by bench/), and kept in the
  // Hono context's variables: a WeakMap keyed by each short-lived context cost about 1 µs per set
  // in isolation (ephemeron bookkeeping), the context's Map 0.03 µs.
  const cached = c.get("requestDirectory")
  if (cached && cached.defaultDirectory === defaultDirectory) return cached.result
  const header = c.req.header("x-opencode-directory")
  const raw = header ? decodeDirectoryParam(header) : (c.req.query("directory") ?? defaultDirectory)
  const directory = validateProjectDirectory(raw)
  const result = { directory, key: directoryKey(directory) }
  c.set("requestDirectory", { defaultDirectory, result })
  return result
}

declare module "hono" {
  interface ContextVariableMap {
    /** The request's directory, resolved against a default directory (absent until asked). */
    requestDirectory: { defaultDirectory: string; result: RequestDirectory } | undefined
  }
}
