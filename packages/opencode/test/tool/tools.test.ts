import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { builtinTools, parseToolInput, toolSpecs } from "../../src/tool/registry.ts"
import { READ_DEFAULT_MAX_BYTES } from "../../src/tool/read.ts"
import { ToolError, type Tool, type ToolContext } from "../../src/tool/tool.ts"

let project: string
let outside: string
let ctx: ToolContext

beforeEach(async () => {
  // Real paths, so assertions compare like with like on systems where tmpdir is a symlink.
  project = await realpath(await mkdtemp(path.join(tmpdir(), "tools-project-")))
  outside = await realpath(await mkdtemp(path.join(tmpdir(), "tools-outside-")))
  ctx = { directory: project, signal: new AbortController().signal }
})

afterEach(async () => {
  await rm(project, { recursive: true, force: true })
  await rm(outside, { recursive: true, force: true })
})

function tool(name: string): Tool {
  const found = builtinTools().find((t) => t.name === name)
  if (!found) throw new Error(`no tool ${name}`)
  return found
}

async function toolErrorOf(promise: Promise<unknown>): Promise<ToolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ToolError)
  return error as ToolError
}

describe("builtin tools", () => {
  it("declares read, list and write with their side-effect kinds", () => {
    expect(builtinTools().map((t) => [t.name, t.kind])).toEqual([
      ["read", "read"],
      ["list", "read"],
      ["write", "write"],
    ])
  })

  it("write creates parent directories; read returns the content; list shows the entries", async () => {
    const written = await tool("write").execute({ path: "src/deep/hello.txt", content: "héllo\n" }, ctx)
    expect(written.output).toBe("wrote 7 bytes to src/deep/hello.txt")
    expect(await readFile(path.join(project, "src/deep/hello.txt"), "utf8")).toBe("héllo\n")

    expect((await tool("read").execute({ path: "src/deep/hello.txt" }, ctx)).output).toBe("héllo\n")

    await writeFile(path.join(project, "README.md"), "# hi\n")
    expect((await tool("list").execute({}, ctx)).output).toBe("README.md\nsrc/")
    expect((await tool("list").execute({ path: "src" }, ctx)).output).toBe("deep/")
    expect((await tool("list").execute({ path: "src/deep" }, ctx)).output).toBe("hello.txt")
  })

  it("write replaces an existing file", async () => {
    await writeFile(path.join(project, "a.txt"), "old content that is longer")
    await tool("write").execute({ path: "a.txt", content: "new" }, ctx)
    expect(await readFile(path.join(project, "a.txt"), "utf8")).toBe("new")
  })

  it("read cuts at maxBytes and says so", async () => {
    await writeFile(path.join(project, "big.txt"), "abcdefghij")
    const { output } = await tool("read").execute({ path: "big.txt", maxBytes: 4 }, ctx)
    expect(output).toBe("abcd\n[truncated: showing the first 4 of 10 bytes]")
    expect(READ_DEFAULT_MAX_BYTES).toBeGreaterThan(10)
  })

  it("accepts an absolute path inside the project", async () => {
    await writeFile(path.join(project, "in.txt"), "inside")
    expect((await tool("read").execute({ path: path.join(project, "in.txt") }, ctx)).output).toBe("inside")
  })

  it("reports missing files and directories as not_found, and a directory given to read as io_error", async () => {
    expect((await toolErrorOf(tool("read").execute({ path: "nope.txt" }, ctx))).code).toBe("not_found")
    expect((await toolErrorOf(tool("list").execute({ path: "nope" }, ctx))).code).toBe("not_found")
    await mkdir(path.join(project, "dir"))
    const error = await toolErrorOf(tool("read").execute({ path: "dir" }, ctx))
    expect(error.code).toBe("io_error")
    expect(error.message).toContain("list")
  })
})

describe("paths outside the project are refused", () => {
  it("refuses ../ traversal for every tool, and writes nothing outside", async () => {
    const escape = path.relative(project, path.join(outside, "x.txt"))
    expect(escape.startsWith("..")).toBe(true)
    for (const [name, input] of [
      ["write", { path: escape, content: "pwned" }],
      ["read", { path: escape }],
      ["list", { path: ".." }],
      ["write", { path: "sub/../../x.txt", content: "pwned" }],
    ] as const) {
      const error = await toolErrorOf(tool(name).execute(input, ctx))
      expect(error.code).toBe("path_outside_project")
      expect(error.message).toMatch(/outside the project/)
    }
    expect(existsSync(path.join(outside, "x.txt"))).toBe(false)
    expect(existsSync(path.join(path.dirname(project), "x.txt"))).toBe(false)
  })

  it("refuses an absolute path elsewhere", async () => {
    await writeFile(path.join(outside, "secret.txt"), "top secret")
    const error = await toolErrorOf(tool("read").execute({ path: path.join(outside, "secret.txt") }, ctx))
    expect(error.code).toBe("path_outside_project")
    expect((await toolErrorOf(tool("read").execute({ path: "/etc/passwd" }, ctx))).code).toBe("path_outside_project")
  })

  it("refuses a symlinked file and a symlinked directory that point out", async () => {
    await writeFile(path.join(outside, "secret.txt"), "top secret")
    await symlink(path.join(outside, "secret.txt"), path.join(project, "link.txt"))
    await symlink(outside, path.join(project, "linkdir"))

    expect((await toolErrorOf(tool("read").execute({ path: "link.txt" }, ctx))).code).toBe("path_outside_project")
    expect((await toolErrorOf(tool("read").execute({ path: "linkdir/secret.txt" }, ctx))).code).toBe(
      "path_outside_project",
    )
    expect((await toolErrorOf(tool("list").execute({ path: "linkdir" }, ctx))).code).toBe("path_outside_project")
    expect((await toolErrorOf(tool("write").execute({ path: "link.txt", content: "overwritten" }, ctx))).code).toBe(
      "path_outside_project",
    )
    expect((await toolErrorOf(tool("write").execute({ path: "linkdir/new/file.txt", content: "x" }, ctx))).code).toBe(
      "path_outside_project",
    )

    expect(await readFile(path.join(outside, "secret.txt"), "utf8")).toBe("top secret")
    expect(existsSync(path.join(outside, "new"))).toBe(false)
  })

  it("refuses writing through a dangling symlink that points out, but follows one that points inside", async () => {
    await symlink(path.join(outside, "created.txt"), path.join(project, "dangling-out"))
    expect((await toolErrorOf(tool("write").execute({ path: "dangling-out", content: "x" }, ctx))).code).toBe(
      "path_outside_project",
    )
    expect(existsSync(path.join(outside, "created.txt"))).toBe(false)

    await symlink("target.txt", path.join(project, "dangling-in"))
    await tool("write").execute({ path: "dangling-in", content: "landed inside" }, ctx)
    expect(await readFile(path.join(project, "target.txt"), "utf8")).toBe("landed inside")
  })

  it("allows a symlink that stays inside the project", async () => {
    await mkdir(path.join(project, "real"))
    await writeFile(path.join(project, "real/file.txt"), "ok")
    await symlink(path.join(project, "real"), path.join(project, "alias"))
    expect((await tool("read").execute({ path: "alias/file.txt" }, ctx)).output).toBe("ok")
  })

  it("refuses a path with a NUL byte", async () => {
    const error = await toolErrorOf(tool("write").execute({ path: "a\0.txt", content: "x" }, ctx))
    expect(error.code).toBe("path_outside_project")
    expect(error.message).toContain("NUL")
  })
})

describe("input validation and abort", () => {
  it("rejects invalid input with invalid_input naming the field", async () => {
    const badPath = await toolErrorOf(tool("read").execute({ path: 42 }, ctx))
    expect(badPath.code).toBe("invalid_input")
    expect(badPath.message).toMatch(/\bpath\b/)

    const missingContent = await toolErrorOf(tool("write").execute({ path: "a.txt" }, ctx))
    expect(missingContent.code).toBe("invalid_input")
    expect(missingContent.message).toMatch(/\bcontent\b/)
    expect(existsSync(path.join(project, "a.txt"))).toBe(false)

    const badLimit = await toolErrorOf(tool("read").execute({ path: "a.txt", maxBytes: -1 }, ctx))
    expect(badLimit.message).toMatch(/\bmaxBytes\b/)

    const notAnObject = await toolErrorOf(tool("list").execute("src", ctx))
    expect(notAnObject.code).toBe("invalid_input")
    expect(notAnObject.message).toContain("input")
  })

  it("parseToolInput returns the parsed input", () => {
    expect(parseToolInput(tool("write"), { path: "a", content: "b", extra: 1 })).toEqual({ path: "a", content: "b" })
  })

  it("write does nothing when the run is already stopped", async () => {
    const error = await toolErrorOf(
      tool("write").execute({ path: "late.txt", content: "x" }, { directory: project, signal: AbortSignal.abort() }),
    )
    expect(error.code).toBe("aborted")
    expect(existsSync(path.join(project, "late.txt"))).toBe(false)
  })
})

describe("toolSpecs", () => {
  it("produces JSON Schema parameters from the zod inputs", () => {
    const specs = toolSpecs(builtinTools())
    expect(specs.map((s) => s.name)).toEqual(["read", "list", "write"])
    const [read, list, write] = specs
    expect(read.description.length).toBeGreaterThan(0)
    expect(read.parameters).toMatchObject({
      type: "object",
      required: ["path"],
      properties: { path: { type: "string" }, maxBytes: { type: "integer" } },
    })
    expect(list.parameters).toMatchObject({ type: "object", properties: { path: { type: "string" } } })
    expect(list.parameters.required ?? []).toEqual([])
    expect(write.parameters).toMatchObject({
      type: "object",
      properties: { path: { type: "string" }, content: { type: "string" } },
    })
    expect([...(write.parameters.required as string[])].sort()).toEqual(["content", "path"])
    expect(read.parameters).not.toHaveProperty("$schema")
  })
})
