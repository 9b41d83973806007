import { mkdir, mkdtemp, realpath, rm, symlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { isInsideDirectory, resolveInsideProject } from "../../src/tool/project-path.ts"
import { ToolError } from "../../src/tool/tool.ts"

let base: string
let project: string

beforeEach(async () => {
  base = await realpath(await mkdtemp(path.join(tmpdir(), "project-path-")))
  project = path.join(base, "project")
  await mkdir(project)
})

afterEach(async () => {
  await rm(base, { recursive: true, force: true })
})

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof ToolError ? error.code : `not a ToolError: ${String(error)}`),
  )
}

describe("isInsideDirectory", () => {
  it("compares whole path components", () => {
    expect(isInsideDirectory("/a/b", "/a/b")).toBe(true)
    expect(isInsideDirectory("/a/b", "/a/b/c")).toBe(true)
    expect(isInsideDirectory("/a/b", "/a/bc")).toBe(false)
    expect(isInsideDirectory("/a/b", "/a")).toBe(false)
    expect(isInsideDirectory("/a/b", "/a/b/..foo")).toBe(true)
    expect(isInsideDirectory("/", "/etc")).toBe(true)
  })
})

describe("resolveInsideProject", () => {
  it("resolves relative and not-yet-existing paths to real paths inside the project", async () => {
    expect(await resolveInsideProject(project, "a/b/c.txt")).toBe(path.join(project, "a/b/c.txt"))
    expect(await resolveInsideProject(project, ".")).toBe(project)
    expect(await resolveInsideProject(project, "a/../b.txt")).toBe(path.join(project, "b.txt"))
  })

  it("resolves through a project directory given as a symlink", async () => {
    await symlink(project, path.join(base, "project-link"))
    expect(await resolveInsideProject(path.join(base, "project-link"), "x.txt")).toBe(path.join(project, "x.txt"))
  })

  it("refuses traversal, absolute paths elsewhere, sibling prefixes and symlinks out", async () => {
    await mkdir(path.join(base, "project-sibling"))
    await symlink(base, path.join(project, "up"))
    expect(await codeOf(resolveInsideProject(project, "../x"))).toBe("path_outside_project")
    expect(await codeOf(resolveInsideProject(project, "/etc/passwd"))).toBe("path_outside_project")
    expect(await codeOf(resolveInsideProject(project, "../project-sibling/x"))).toBe("path_outside_project")
    expect(await codeOf(resolveInsideProject(project, "up/project-sibling/x"))).toBe("path_outside_project")
    expect(await codeOf(resolveInsideProject(project, "bad\0name"))).toBe("path_outside_project")
  })

  it("reports a symlink loop as io_error rather than hanging", async () => {
    await symlink(path.join(project, "loop-b"), path.join(project, "loop-a"))
    await symlink(path.join(project, "loop-a"), path.join(project, "loop-b"))
    expect(await codeOf(resolveInsideProject(project, "loop-a"))).toBe("io_error")
  })

  it("reports a missing project directory as not_found", async () => {
    expect(await codeOf(resolveInsideProject(path.join(base, "gone"), "x"))).toBe("not_found")
  })
})
