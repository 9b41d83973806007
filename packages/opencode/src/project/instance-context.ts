/**
 * What an instance was opened for: the git worktree root, the project id (the repository's
 * root commit, or `global`), and the digest of the project config. `load` re-detects it and
 * compares, so a directory that became a repository, or whose config changed, is reopened with
 * a named reason instead of serving stale state.
 */
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, statSync } from "node:fs"
import path from "node:path"
import type { MismatchReason } from "../provenance/schemas.ts"
import { FileRefusal, readRegularFile } from "../regular-file.ts"

export const CONFIG_FILE = "opencode.json"

/** A config file larger than this is refused: a config is a few keys, never megabytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024

/** The worktree of a directory outside any git repository. */
export const NO_WORKTREE = "/"

export interface InstanceContext {
  /**
   * The git worktree root, or `/` when the directory is not in a repository (opencode's
   * convention for the global project): a directory that becomes a repository, or leaves one,
   * is a `worktree_mismatch`.
   */
  worktree: string
  projectId: string
  /** sha256 of the config file's bytes; `none` when there is no config file. */
  configDigest: string
}

/** The `.git` entry's identity, so the project id is recomputed only when the repository changes. */
const projectIdCache = new Map<string, { stamp: string; projectId: string }>()

/**
 * @example const context = await detectContext("/home/me/project")
 */
export async function detectContext(directory: string): Promise<InstanceContext> {
  const gitRoot = findGitRoot(directory)
  return {
    worktree: gitRoot ?? NO_WORKTREE,
    projectId: gitRoot ? await projectIdOf(gitRoot) : "global",
    configDigest: await configDigestOf(directory),
  }
}

function configDigestOf(directory: string): Promise<string> {
  return fileDigestOf(path.join(directory, CONFIG_FILE))
}

/**
 * sha256 of a config file's bytes: `none` when there is none, `refused:<code>` when it is not a
 * regular file of a config's size or cannot be read (never read, so never waited on).
 */
export async function fileDigestOf(file: string): Promise<string> {
  try {
    return contentDigest(await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES, label: path.basename(file) }))
  } catch (error) {
    if (error instanceof FileRefusal && error.code !== "not_found") return `refused:${error.code}`
    return "none"
  }
}

export function contentDigest(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex")
}

/** The first context field that differs, as a mismatch reason (docs/protocol.md, "Context-mismatch reasons"). */
export function mismatchOf(
  before: InstanceContext,
  after: InstanceContext,
): { reason: MismatchReason; before: string; after: string } | undefined {
  if (before.worktree !== after.worktree)
    return { reason: "worktree_mismatch", before: before.worktree, after: after.worktree }
  if (before.projectId !== after.projectId)
    return { reason: "project_id_mismatch", before: before.projectId, after: after.projectId }
  if (before.configDigest !== after.configDigest)
    return { reason: "config_digest_mismatch", before: before.configDigest, after: after.configDigest }
  return undefined
}

function findGitRoot(directory: string): string | undefined {
  let current = directory
  for (;;) {
    if (existsSync(path.join(current, ".git"))) return current
    const parent = path.dirname(current)
    if (parent === current) return undefined
    current = parent
  }
}

async function projectIdOf(gitRoot: string): Promise<string> {
  const gitEntry = path.join(gitRoot, ".git")
  let stamp = ""
  try {
    const headStat = statSync(path.join(gitEntry, "HEAD"))
    const refsStat = statSync(path.join(gitEntry, "refs", "heads"))
    stamp = `${headStat.mtimeMs}:${refsStat.mtimeMs}`
  } catch {
    stamp = "unreadable"
  }
  const cached = projectIdCache.get(gitRoot)
  if (cached && cached.stamp === stamp) return cached.projectId
  const projectId = await rootCommit(gitRoot)
  projectIdCache.set(gitRoot, { stamp, projectId })
  return projectId
}

function rootCommit(gitRoot: string): Promise<string> {
  return new Promise((resolve) => {
    execFile("git", ["rev-list", "--max-parents=0", "--all"], { cwd: gitRoot, timeout: 5000 }, (error, stdout) => {
      if (error) return resolve("global")
      const first = stdout.split("\n").filter(Boolean).sort()[0]
      resolve(first ?? "global")
    })
  })
}
