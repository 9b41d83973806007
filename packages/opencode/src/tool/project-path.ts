/**
 * What every file tool does before touching the project: confine its path argument to the
 * project directory, and turn file-system failures into ToolErrors.
 *
 * The confinement check is made on the real path (symlinks of every existing component
 * followed), so a symlink inside the project that points elsewhere cannot be used to read or
 * write outside it. (A symlink swapped in between the check and the I/O is not defended
 * against: the tools run for the user's own model in the user's own directory.)
 */
import { constants, type Stats } from "node:fs"
import { type FileHandle, lstat, open, readdir, readlink, realpath } from "node:fs/promises"
import path from "node:path"
import { gitConfigProgramKey, hasGitDirectoryShape } from "./git-repository.ts"
import { ToolError } from "./tool.ts"

/** True when `candidate` is `root` or lies beneath it (both absolute and normalised). */
export function isInsideDirectory(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate)
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
}

/**
 * Resolves `relPath` against the project `directory` and returns the real absolute path to
 * use, or throws ToolError("path_outside_project") when it would leave the directory
 * (`..` traversal, an absolute path elsewhere, a symlink pointing out, a NUL byte).
 * The target itself need not exist (a file about to be written); its existing ancestors are
 * resolved through realpath and the rest appended.
 */
export async function resolveInsideProject(directory: string, relPath: string): Promise<string> {
  if (relPath.includes("\0")) throw new ToolError("path_outside_project", "path contains a NUL byte")
  let root: string
  try {
    root = await realpath(directory)
  } catch {
    throw new ToolError("not_found", "the project directory does not exist")
  }
  const lexical = path.resolve(directory, relPath)
  const outside = () =>
    new ToolError(
      "path_outside_project",
      `path ${JSON.stringify(relPath.slice(0, 200))} is outside the project directory; use a path relative to it`,
    )
  // Reject obvious escapes before touching the file system; the realpath check below catches symlinks.
  if (!isInsideDirectory(path.resolve(directory), lexical) && !isInsideDirectory(root, lexical)) throw outside()

  const real = await realpathOfLongestExisting(lexical)
  if (!isInsideDirectory(root, real)) throw outside()
  return real
}

/**
 * Throws ToolError("path_refused") when writing `content` to the real path `target` (from
 * `resolveInsideProject`) would create or change a git repository: a repository's config can
 * name programs that git runs for whoever next runs it there (hooks, core.fsmonitor, aliases).
 * Refused are a path with a `.git` component (the repository, or a `.git` file pointing
 * elsewhere), a path at or below a directory that has, or after this write would have, a git
 * directory's shape (`hasGitDirectoryShape`: git in that directory takes it for a bare
 * repository), and content shaped like a git config that names a program
 * (`gitConfigProgramKey`), whatever the file's name, since a config can include any file.
 * Names are compared without case, as case-insensitive file systems do.
 */
export async function refuseRepositoryInternals(
  directory: string,
  target: string,
  relPath: string,
  content: string,
): Promise<void> {
  const shown = JSON.stringify(relPath.slice(0, 200))
  const root = await realpath(directory).catch(() => path.resolve(directory))
  const relative = path.relative(root, target)
  const parts = relative === "" ? [] : relative.split(path.sep)
  if (parts.some((part) => part.toLowerCase() === ".git")) {
    throw new ToolError(
      "path_refused",
      `refusing to write ${shown}: files under .git/ and .git files belong to the repository (its hooks run on the next commit); the write tool does not write them`,
    )
  }
  // Each directory from the project root down to the target's, with the entry this write adds to it.
  let dir = root
  for (const part of parts) {
    const names = new Set((await readdir(dir).catch(() => [] as string[])).map((name) => name.toLowerCase()))
    names.add(part.toLowerCase())
    if (hasGitDirectoryShape(names)) {
      throw new ToolError(
        "path_refused",
        `refusing to write ${shown}: its directory has or would get a git repository's shape (HEAD with objects/ and refs/), whose config git would obey; the write tool does not make repositories`,
      )
    }
    dir = path.join(dir, part)
  }
  // Named in the rule table's words (`alias.*`), never by a key taken from the content (a tool input).
  const setting = gitConfigProgramKey(content)
  if (setting !== undefined) {
    throw new ToolError(
      "path_refused",
      `refusing to write ${shown}: it is a git config setting ${setting}, which names a program for git to run; the write tool does not write those`,
    )
  }
}

/**
 * Opens `target` without ever blocking on it (O_NONBLOCK: a FIFO's open would otherwise wait
 * for its other end on a thread that then keeps the process from exiting) and refuses anything
 * but a regular file with ToolError("not_regular_file"); directories keep their own message.
 */
export async function openRegularFile(
  target: string,
  relPath: string,
  mode: "read" | "write",
): Promise<{ handle: FileHandle; stat: Stats }> {
  const flags = (mode === "read" ? constants.O_RDONLY : constants.O_WRONLY | constants.O_CREAT) | constants.O_NONBLOCK
  let handle: FileHandle
  try {
    handle = await open(target, flags, 0o666)
  } catch (error) {
    // ENXIO: a FIFO with no reader refuses a non-blocking open for writing.
    if (errnoCode(error) === "ENXIO") throw notRegular(relPath)
    throw fileSystemError(error, relPath)
  }
  try {
    const stat = await handle.stat()
    if (stat.isDirectory())
      throw new ToolError(
        "io_error",
        `${JSON.stringify(relPath.slice(0, 200))} is a directory${mode === "read" ? "; use the list tool" : ""}`,
      )
    if (!stat.isFile()) throw notRegular(relPath)
    return { handle, stat }
  } catch (error) {
    await handle.close().catch(() => {})
    throw fileSystemError(error, relPath)
  }
}

function notRegular(relPath: string): ToolError {
  return new ToolError(
    "not_regular_file",
    `${JSON.stringify(relPath.slice(0, 200))} is not a regular file (a pipe, socket or device); the tools read and write regular files only`,
  )
}

/** Symlink hops followed before giving up, as the kernel does with ELOOP. */
const MAX_SYMLINK_HOPS = 40

/**
 * realpath of the deepest existing ancestor of `absolute`, with the non-existing rest appended.
 * A dangling symlink on the way is followed by hand (its target may be created by a write),
 * so the result is where a write through it would really land.
 */
async function realpathOfLongestExisting(absolute: string, hops = 0): Promise<string> {
  if (hops > MAX_SYMLINK_HOPS) throw new ToolError("io_error", "too many levels of symbolic links")
  const missing: string[] = []
  let current = absolute
  for (;;) {
    let isSymlink: boolean
    try {
      isSymlink = (await lstat(current)).isSymbolicLink()
    } catch (error) {
      const code = errnoCode(error)
      if (code !== "ENOENT" && code !== "ENOTDIR")
        throw new ToolError("io_error", `cannot resolve path (${code ?? "error"})`)
      const parent = path.dirname(current)
      if (parent === current) return absolute
      missing.unshift(path.basename(current))
      current = parent
      continue
    }
    try {
      return path.join(await realpath(current), ...missing)
    } catch (error) {
      const code = errnoCode(error)
      if (code !== "ENOENT" || !isSymlink) throw new ToolError("io_error", `cannot resolve path (${code ?? "error"})`)
      const target = path.resolve(path.dirname(current), await readlink(current))
      return realpathOfLongestExisting(path.join(target, ...missing), hops + 1)
    }
  }
}

/** The error's errno-style code (`ENOENT`, `ABORT_ERR`); anything else shaped is not named in a message. */
function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === "string" && /^[A-Z][A-Z0-9_]{0,31}$/.test(code) ? code : undefined
}

/** Throws ToolError("aborted") when the run was stopped before the tool got going. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new ToolError("aborted", "the run was stopped before the tool ran")
}

/** Maps a file-system error to a ToolError that names the path the model gave, not the absolute one. */
export function fileSystemError(error: unknown, relPath: string): ToolError {
  if (error instanceof ToolError) return error
  const code = errnoCode(error)
  const shown = JSON.stringify(relPath.slice(0, 200))
  switch (code) {
    case "ENOENT":
      return new ToolError("not_found", `${shown} does not exist`)
    case "ENOTDIR":
      return new ToolError("io_error", `${shown} is not a directory (or has a file where a directory is expected)`)
    case "EISDIR":
      return new ToolError("io_error", `${shown} is a directory`)
    case "EACCES":
    case "EPERM":
      return new ToolError("io_error", `permission denied for ${shown}`)
    case "ABORT_ERR":
      return new ToolError("aborted", `the run was stopped while working on ${shown}`)
    default:
      return new ToolError("io_error", `file-system error on ${shown}${code ? ` (${code})` : ""}`)
  }
}
