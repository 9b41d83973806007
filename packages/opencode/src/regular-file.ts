/**
 * The one way the server and the CLI read a file at a path a user or a project controls (project
 * and global config, export files, anything under the data dir): open it without blocking
 * (O_NONBLOCK: opening a named pipe would otherwise wait for a writer, on a thread the process
 * cannot get back), check on the opened descriptor that it is a regular file of a bounded size,
 * and only then read it. Anything else is a `FileRefusal` that says in words what the path is.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs"
import { open } from "node:fs/promises"

export type FileRefusalCode = "not_found" | "not_regular_file" | "too_large" | "unreadable"

/** Why a file was not read; `message` names the file by the label the caller gave, and what it is. */
export class FileRefusal extends Error {
  constructor(
    readonly code: FileRefusalCode,
    message: string,
  ) {
    super(message)
    this.name = "FileRefusal"
  }
}

interface ReadLimits {
  /** Larger files are refused before any byte is read. */
  maxBytes: number
  /** How the file is named in a refusal (a file name, not an absolute path, for anything a client sees). */
  label: string
  /** Read only this many bytes from the start (a header), whatever the file's size. */
  firstBytes?: number
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK

/** The file opened for reading (never blocking on a FIFO); a failure is the refusal its code names. */
async function openRefusing(file: string, limits: ReadLimits) {
  try {
    return await open(file, OPEN_FLAGS)
  } catch (error) {
    throw refusalOf(error, limits.label)
  }
}

/**
 * @example const bytes = await readRegularFile(path.join(dir, "opencode.json"), { maxBytes: 1 << 20, label: "opencode.json" })
 */
export async function readRegularFile(file: string, limits: ReadLimits): Promise<Buffer> {
  const handle = await openRefusing(file, limits)
  try {
    const buffer = Buffer.alloc(bufferSize(checked(await handle.stat(), limits), limits))
    let length = 0
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
      if (length === buffer.length) break
    }
    if (limits.firstBytes === undefined && length > limits.maxBytes) throw tooLarge(limits)
    return buffer.subarray(0, length)
  } catch (error) {
    throw refusalOf(error, limits.label)
  } finally {
    await handle.close().catch(() => {})
  }
}

/** Bytes read at a time by `readRegularFileChunks`. */
const CHUNK_BYTES = 64 * 1024

/**
 * The file's bytes a chunk at a time, after the same checks: for a file too large to hold whole.
 * A file that grows past `maxBytes` while it is read is refused then. Each chunk is valid until
 * the next is asked for (the same memory is read into again).
 *
 * @example for await (const chunk of readRegularFileChunks(file, { maxBytes: 1 << 28, label: "it" })) count += chunk.length
 */
export async function* readRegularFileChunks(file: string, limits: ReadLimits): AsyncGenerator<Buffer> {
  const handle = await openRefusing(file, limits)
  try {
    checked(await handle.stat(), limits)
    let length = 0
    // One buffer for every chunk: a fresh one each time would be memory outside the heap that
    // the garbage collector does not hurry to free, as large as the file by its end.
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES)
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, length).catch((error: unknown) => {
        throw refusalOf(error, limits.label)
      })
      if (bytesRead === 0) return
      length += bytesRead
      if (length > limits.maxBytes) throw tooLarge(limits)
      yield buffer.subarray(0, bytesRead)
    }
  } finally {
    await handle.close().catch(() => {})
  }
}

/**
 * The same checks, synchronously: only for what runs before the server listens or in a one-shot
 * CLI command, where nothing else waits on the event loop. It never blocks on a pipe either.
 */
export function readRegularFileSync(file: string, limits: ReadLimits): Buffer {
  let fd: number
  try {
    fd = openSync(file, OPEN_FLAGS)
  } catch (error) {
    throw refusalOf(error, limits.label)
  }
  try {
    const buffer = Buffer.alloc(bufferSize(checked(fstatSync(fd), limits), limits))
    let length = 0
    for (;;) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
      if (length === buffer.length) break
    }
    if (limits.firstBytes === undefined && length > limits.maxBytes) throw tooLarge(limits)
    return buffer.subarray(0, length)
  } catch (error) {
    throw refusalOf(error, limits.label)
  } finally {
    closeSync(fd)
  }
}

/** The file's size, once it is known to be a regular file within the limit. */
function checked(stat: Stats, limits: ReadLimits): number {
  if (!stat.isFile())
    throw new FileRefusal("not_regular_file", `${limits.label} is ${kindOf(stat)}, not a regular file`)
  if (limits.firstBytes === undefined && stat.size > limits.maxBytes) throw tooLarge(limits)
  return stat.size
}

/** The whole file and one byte more (which tells a file that grew since fstat), or just its header. */
function bufferSize(size: number, limits: ReadLimits): number {
  return limits.firstBytes !== undefined ? limits.firstBytes : Math.min(size, limits.maxBytes) + 1
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return "a directory"
  if (stat.isFIFO()) return "a named pipe"
  if (stat.isSocket()) return "a socket"
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device"
  return "not a file"
}

function tooLarge(limits: ReadLimits): FileRefusal {
  return new FileRefusal("too_large", `${limits.label} is larger than ${formatBytes(limits.maxBytes)}`)
}

function formatBytes(bytes: number): string {
  return bytes % 2 ** 20 === 0
    ? `${bytes / 2 ** 20} MiB`
    : bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`
}

function refusalOf(error: unknown, label: string): FileRefusal {
  if (error instanceof FileRefusal) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT" || code === "ENOTDIR") return new FileRefusal("not_found", `${label} does not exist`)
  if (code === "EISDIR") return new FileRefusal("not_regular_file", `${label} is a directory, not a regular file`)
  // ENXIO: a socket file, which cannot be opened at all.
  if (code === "ENXIO")
    return new FileRefusal(
      "not_regular_file",
      `${label} is a socket or a device with nothing behind it, not a regular file`,
    )
  if (code === "EACCES" || code === "EPERM")
    return new FileRefusal("unreadable", `${label} cannot be read (permission denied)`)
  return new FileRefusal("unreadable", `${label} cannot be read${code ? ` (${code})` : ""}`)
}
