/** `read`: returns the text of a UTF-8 file inside the project (side-effect kind "read"). */
import { z } from "zod"
import { fileSystemError, openRegularFile, resolveInsideProject, throwIfAborted } from "./project-path.ts"
import type { Tool } from "./tool.ts"

export const READ_DEFAULT_MAX_BYTES = 256 * 1024
const READ_LIMIT_MAX_BYTES = 4 * 1024 * 1024

const ReadInput = z.object({
  path: z.string().min(1).describe("File path, relative to the project directory"),
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(READ_LIMIT_MAX_BYTES)
    .optional()
    .describe(`Read at most this many bytes (default ${READ_DEFAULT_MAX_BYTES})`),
})
type ReadInput = z.infer<typeof ReadInput>

export const readTool: Tool<ReadInput> = {
  name: "read",
  description:
    "Read a UTF-8 text file in the project (regular files only). Long files are cut at maxBytes, with a note saying so.",
  kind: "read",
  input: ReadInput,
  async execute(input, ctx) {
    throwIfAborted(ctx.signal)
    const target = await resolveInsideProject(ctx.directory, input.path)
    const maxBytes = input.maxBytes ?? READ_DEFAULT_MAX_BYTES
    const { handle, stat } = await openRegularFile(target, input.path, "read")
    try {
      // Read only what is kept, so a huge file costs maxBytes of memory, not its size.
      const buffer = Buffer.alloc(Math.min(maxBytes, stat.size))
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
      const text = new TextDecoder("utf-8").decode(buffer.subarray(0, bytesRead))
      if (stat.size > bytesRead)
        return { output: `${text}\n[truncated: showing the first ${bytesRead} of ${stat.size} bytes]` }
      return { output: text }
    } catch (error) {
      throw fileSystemError(error, input.path)
    } finally {
      await handle.close()
    }
  },
}
