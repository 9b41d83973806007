/**
 * Tools never block on a file that is not a regular file (a FIFO waits forever for its other
 * end, and a thread stuck in that open keeps the process from exiting), and the write tool
 * refuses the repository's own files under `.git/` (a hook there runs on the user's next commit).
 */
import { execFileSync } from "node:child_process"
import { constants } from "node:fs"
import { mkdir, mkdtemp, open, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { builtinTools } from "../../src/tool/registry.ts"
import { ToolError, type Tool, type ToolContext } from "../../src/tool/tool.ts"

let project: string
let ctx: ToolContext

beforeEach(async () => {
  project = await realpath(await mkdtemp(path.join(tmpdir(), "tools-nonregular-")))
  ctx = { directory: project, signal: new AbortController().signal }
})

afterEach(async () => {
  await rm(project, { recursive: true, force: true })
})

function tool(name: string): Tool {
  return builtinTools().find((t) => t.name === name)!
}

/** The tool's outcome, or "blocked" if it has not answered in 3 s (then the FIFO is unblocked). */
async function outcome(fifo: string, run: Promise<unknown>): Promise<unknown> {
  let timer!: NodeJS.Timeout
  const blocked = new Promise((resolve) => (timer = setTimeout(() => resolve("blocked"), 3000)))
  const result = await Promise.race([
    run.then(
      () => "ok",
      (e: unknown) => e,
    ),
    blocked,
  ])
  clearTimeout(timer)
  if (result === "blocked") {
    // Open the other end so the stuck open returns and the test process can exit.
    for (const flags of [constants.O_RDONLY | constants.O_NONBLOCK, constants.O_WRONLY | constants.O_NONBLOCK]) {
      await open(fifo, flags).then(
        (h) => h.close(),
        () => {},
      )
    }
    await run.catch(() => {})
  }
  return result
}

describe("non-regular files", () => {
  it("read refuses a FIFO instead of waiting for a writer", async () => {
    const fifo = path.join(project, "pipe")
    execFileSync("mkfifo", [fifo])
    const result = await outcome(fifo, tool("read").execute({ path: "pipe" }, ctx))
    expect(result).toBeInstanceOf(ToolError)
    expect((result as ToolError).code).toBe("not_regular_file")
    expect((result as ToolError).message).toContain('"pipe" is not a regular file')
  })

  it("write refuses a FIFO instead of waiting for a reader", async () => {
    const fifo = path.join(project, "pipe")
    execFileSync("mkfifo", [fifo])
    const result = await outcome(fifo, tool("write").execute({ path: "pipe", content: "x" }, ctx))
    expect(result).toBeInstanceOf(ToolError)
    expect((result as ToolError).code).toBe("not_regular_file")
  })

  it("write refuses a FIFO reached through a symlink", async () => {
    const fifo = path.join(project, "pipe")
    execFileSync("mkfifo", [fifo])
    await symlink(fifo, path.join(project, "link"))
    const result = await outcome(fifo, tool("write").execute({ path: "link", content: "x" }, ctx))
    expect((result as ToolError).code).toBe("not_regular_file")
  })

  it("regular files still read and write", async () => {
    await tool("write").execute({ path: "a/b.txt", content: "hello" }, ctx)
    expect(await readFile(path.join(project, "a/b.txt"), "utf8")).toBe("hello")
    await tool("write").execute({ path: "a/b.txt", content: "hi" }, ctx)
    expect((await tool("read").execute({ path: "a/b.txt" }, ctx)).output).toBe("hi")
  })
})

describe("the write tool and .git/", () => {
  const refused = async (relPath: string) => {
    const error = await tool("write")
      .execute({ path: relPath, content: "#!/bin/sh\necho owned\n" }, ctx)
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toBeInstanceOf(ToolError)
    expect((error as ToolError).code).toBe("path_refused")
    expect((error as ToolError).message).toContain(".git")
  }

  it.each([
    ".git/hooks/pre-commit",
    ".git/config",
    ".git",
    "sub/.git/HEAD",
    "./x/../.git/hooks/post-checkout",
    ".GIT/hooks/pre-commit",
  ])("refuses %s", async (relPath) => {
    await mkdir(path.join(project, ".git", "hooks"), { recursive: true })
    await refused(relPath)
  })

  it("refuses a path that reaches .git/ through a symlink, and writes nothing", async () => {
    await mkdir(path.join(project, ".git", "hooks"), { recursive: true })
    await symlink(path.join(project, ".git", "hooks"), path.join(project, "hooks"))
    await refused("hooks/pre-commit")
    await expect(readFile(path.join(project, ".git", "hooks", "pre-commit"))).rejects.toThrow()
  })

  it("still writes names that merely contain .git, and read may read .git/", async () => {
    await mkdir(path.join(project, ".git"), { recursive: true })
    await writeFile(path.join(project, ".git", "HEAD"), "ref: refs/heads/main\n")
    await tool("write").execute({ path: ".gitignore", content: "node_modules\n" }, ctx)
    await tool("write").execute({ path: "docs/.github/x.md", content: "x" }, ctx)
    expect(await readFile(path.join(project, ".gitignore"), "utf8")).toBe("node_modules\n")
    expect((await tool("read").execute({ path: ".git/HEAD" }, ctx)).output).toContain("refs/heads/main")
  })
})
