/**
 * The write tool never makes a git repository: not through `.git/`, and not by writing a
 * repository's own files (HEAD, objects/, refs/, a config naming programs) into another
 * directory, where `git` run there takes that directory for a bare repository and runs what
 * its config names.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ToolError, type ToolContext } from "../../src/tool/tool.ts"
import { writeTool } from "../../src/tool/write.ts"

const run = promisify(execFile)

let project: string
let ctx: ToolContext

beforeEach(async () => {
  project = await realpath(await mkdtemp(path.join(tmpdir(), "git-shape-")))
  ctx = { directory: project, signal: new AbortController().signal }
})

afterEach(async () => {
  await rm(project, { recursive: true, force: true })
})

/** The write's refusal code, or "written". */
async function write(relPath: string, content: string): Promise<string> {
  return writeTool.execute({ path: relPath, content }, ctx).then(
    () => "written",
    (error: unknown) => (error instanceof ToolError ? error.code : `not a ToolError: ${String(error)}`),
  )
}

/** Runs git in `cwd` with a clean environment (no user or system config) and lets it fail. */
async function git(cwd: string, ...args: string[]): Promise<void> {
  const env = { PATH: process.env.PATH ?? "", HOME: project, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" }
  await run("git", args, { cwd, env, timeout: 20_000 }).catch(() => {})
}

describe("the write tool refuses to make a git repository outside .git/", () => {
  it("the four writes (HEAD, a config naming programs, objects/, refs/) into docs/ are refused, and git in docs/ runs nothing", async () => {
    const markers = ["fsmonitor", "ssh"].map((name) => path.join(project, `ran-${name}`))
    const config = [
      "[core]",
      "\tworktree = ..",
      `\tfsmonitor = "touch ${markers[0]}; false"`,
      `\tsshCommand = "touch ${markers[1]}; false"`,
      '[remote "origin"]',
      "\turl = ssh://example.invalid/repo",
      "",
    ].join("\n")
    const outcomes = [
      await write("docs/HEAD", "ref: refs/heads/main\n"),
      await write("docs/config", config),
      await write("docs/objects/info/packs", ""),
      await write("docs/refs/heads/main.keep", ""),
    ]
    // What a user would run there next: `status` consults core.fsmonitor, `fetch` core.sshCommand.
    const docs = path.join(project, "docs")
    await git(docs, "status")
    await git(docs, "fetch", "origin")
    for (const marker of markers) expect(existsSync(marker), marker).toBe(false)
    // The config is refused for what it names; the last write for the shape it would complete.
    expect(outcomes).toEqual(["written", "path_refused", "written", "path_refused"])
    expect(existsSync(path.join(project, "docs/config"))).toBe(false)
    expect(existsSync(path.join(project, "docs/refs"))).toBe(false)
  })

  it("refuses the write that completes the shape in any order, even with a harmless config", async () => {
    expect(await write("a/config", "[core]\n\trepositoryformatversion = 0\n")).toBe("written")
    expect(await write("a/refs/heads/x", "")).toBe("written")
    expect(await write("a/objects/x", "")).toBe("written")
    expect(await write("a/HEAD", "ref: refs/heads/main\n")).toBe("path_refused")
    expect(existsSync(path.join(project, "a/HEAD"))).toBe(false)
    // HEAD beside a commondir file is a repository too (a linked worktree's git directory).
    expect(await write("b/commondir", "../.git\n")).toBe("written")
    expect(await write("b/HEAD", "ref: refs/heads/main\n")).toBe("path_refused")
  })

  it("refuses any write into a directory that already has a repository's shape", async () => {
    for (const part of ["objects", "refs"])
      await mkdir(path.join(project, "vendor/repo.git", part), { recursive: true })
    await writeFile(path.join(project, "vendor/repo.git/HEAD"), "ref: refs/heads/main\n")
    for (const target of [
      "vendor/repo.git/config",
      "vendor/repo.git/hooks/post-update",
      "vendor/repo.git/objects/info/alternates",
    ]) {
      expect(await write(target, "x\n"), target).toBe("path_refused")
      expect(existsSync(path.join(project, target)), target).toBe(false)
    }
  })

  it("refuses a .git file (gitdir: pointing a directory at a repository) and names the reason", async () => {
    await mkdir(path.join(project, "elsewhere/objects"), { recursive: true })
    for (const target of ["sub/.git", ".git", "sub/.Git"])
      expect(await write(target, "gitdir: ../elsewhere\n"), target).toBe("path_refused")
    const error = await writeTool
      .execute({ path: "sub/.git", content: "gitdir: ../elsewhere\n" }, ctx)
      .catch((e: unknown) => e)
    expect((error as ToolError).message).toContain(".git")
    expect((error as ToolError).message).not.toContain("elsewhere")
  })

  it.each([
    ["core.fsmonitor", "[core]\n\tfsmonitor = touch x\n"],
    ["core.hooksPath, on the header's line", "[core] hooksPath = tools/hooks\n"],
    ["core.pager, with CRLF and a byte-order mark", "\uFEFF# settings\r\n[Core]\r\n\tPAGER = less; touch x\r\n"],
    ["an alias", '[alias]\n\tst = "!touch x"\n'],
    ["a filter driver", '[filter "lfs"]\n\tsmudge = touch x\n'],
    ["a diff driver's textconv", '[diff "bin"]\n\ttextconv = touch x\n'],
    ["a merge driver", '[merge "ours"]\n\tdriver = touch x\n'],
    ["credential.helper", "[credential]\n\thelper = !touch x\n"],
    ["an include of another file", "[include]\n\tpath = ../notes/more\n"],
    ["a conditional include", '[includeIf "gitdir:~/"]\n\tpath = x\n'],
    ["an old-style subsection", "[diff.bin]\n\ttextconv = touch x\n"],
  ])("refuses git-config content naming a program (%s), whatever the file's name", async (_name, content) => {
    for (const target of ["notes/config", "notes/settings.ini"]) {
      expect(await write(target, content), target).toBe("path_refused")
      expect(existsSync(path.join(project, target)), target).toBe(false)
    }
  })

  it("still writes ordinary files named config or HEAD, and git-config-like text that names no program", async () => {
    const writes: [string, string][] = [
      ["config/app.json", '{ "port": 3000 }\n'],
      ["src/config", "port=3000\n"],
      ["notes/HEAD", "the head of the list\n"],
      ["notes/refs/index.txt", "# refs\n"],
      ["repo-notes/config", "[core]\n\tautocrlf = input\n[user]\n\tname = Someone\n"],
      ["docs/git-notes.txt", "# Git\n\n```ini\n[core]\n\tfsmonitor = true\n```\n"],
      [".editorconfig", "root = true\n\n[*]\nindent_style = space\n"],
      ["setup.cfg", "[metadata]\nname = thing\n[options]\npackages = find:\n"],
    ]
    for (const [target, content] of writes) {
      expect(await write(target, content), target).toBe("written")
      expect(await readFile(path.join(project, target), "utf8")).toBe(content)
    }
  })
})
