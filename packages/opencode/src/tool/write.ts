/** `write`: writes a file inside the project, creating parent directories (side-effect kind "write"). */
import { mkdir } from "node:fs/promises"
import path from "node:path"
import { z } from "zod"
import {
  fileSystemError,
  openRegularFile,
  refuseRepositoryInternals,
  resolveInsideProject,
  throwIfAborted,
} from "./project-path.ts"
import type { Tool } from "./tool.ts"

const WriteInput = z.object({
  path: z.string().min(1).describe("File path, relative to the project directory"),
  content: z.string().describe("The complete new content of the file (UTF-8)"),
})
type WriteInput = z.infer<typeof WriteInput>

export const writeTool: Tool<WriteInput> = {
  name: "write",
  description:
    "Write a UTF-8 text file in the project, replacing it if it exists and creating missing parent directories. Regular files only; files under .git/, files that would make a directory a git repository (HEAD with objects/ and refs/) and git config that names programs are refused.",
  kind: "write",
  input: WriteInput,
  async execute(input, ctx) {
    const target = await resolveInsideProject(ctx.directory, input.path)
    await refuseRepositoryInternals(ctx.directory, target, input.path, input.content)
    // Last check before the side effect: a run stopped while the path was resolved must not write.
    throwIfAborted(ctx.signal)
    try {
      await mkdir(path.dirname(target), { recursive: true })
    } catch (error) {
      throw fileSystemError(error, input.path)
    }
    // Opened before truncating: a pipe or device is refused without being touched.
    const { handle } = await openRegularFile(target, input.path, "write")
    try {
      await handle.truncate(0)
      await handle.writeFile(input.content, { encoding: "utf8", signal: ctx.signal })
    } catch (error) {
      throw fileSystemError(error, input.path)
    } finally {
      await handle.close()
    }
    return { output: `wrote ${Buffer.byteLength(input.content, "utf8")} bytes to ${input.path}` }
  },
}
