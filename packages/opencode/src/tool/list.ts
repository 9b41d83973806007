/** `list`: lists a directory inside the project (side-effect kind "read"). */
import { readdir } from "node:fs/promises"
import { z } from "zod"
import { fileSystemError, resolveInsideProject, throwIfAborted } from "./project-path.ts"
import type { Tool } from "./tool.ts"

const LIST_MAX_ENTRIES = 1000

const ListInput = z.object({
  path: z
    .string()
    .min(1)
    .optional()
    .describe("Directory path, relative to the project directory (default: the project root)"),
})
type ListInput = z.infer<typeof ListInput>

export const listTool: Tool<ListInput> = {
  name: "list",
  description:
    "List the entries of a directory in the project, one per line; directories end with '/', symlinks with '@'.",
  kind: "read",
  input: ListInput,
  async execute(input, ctx) {
    throwIfAborted(ctx.signal)
    const relPath = input.path ?? "."
    const target = await resolveInsideProject(ctx.directory, relPath)
    let entries
    try {
      entries = await readdir(target, { withFileTypes: true })
    } catch (error) {
      throw fileSystemError(error, relPath)
    }
    const names = entries
      .map((entry) => entry.name + (entry.isDirectory() ? "/" : entry.isSymbolicLink() ? "@" : ""))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    if (names.length === 0) return { output: "(empty directory)" }
    const shown = names.slice(0, LIST_MAX_ENTRIES)
    const note = names.length > shown.length ? `\n[truncated: showing ${shown.length} of ${names.length} entries]` : ""
    return { output: shown.join("\n") + note }
  },
}
