/**
 * What makes git take a directory for a repository, and what in a git config names a program
 * to run: the write tool refuses to create either (a repository's config runs its programs for
 * whoever next runs git there). The rule tables live here once.
 */

/**
 * Entries that make a directory a git directory (git's `is_git_directory`): `HEAD` with
 * `objects/` and `refs/`, or `HEAD` with a `commondir` file naming where those are. Names are
 * compared lower-cased: a case-insensitive file system treats `head` as `HEAD`.
 */
export function hasGitDirectoryShape(lowerCaseNames: ReadonlySet<string>): boolean {
  return (
    lowerCaseNames.has("head") &&
    ((lowerCaseNames.has("objects") && lowerCaseNames.has("refs")) || lowerCaseNames.has("commondir"))
  )
}

/** `section.key` (subsection ignored) of every git config key whose value git runs, or that points git at other config or another work tree. */
const PROGRAM_KEYS = new Set([
  "core.fsmonitor",
  "core.hookspath",
  "core.sshcommand",
  "core.editor",
  "core.pager",
  "core.worktree",
  "core.gitproxy",
  "core.askpass",
  "core.alternaterefscommand",
  "sequence.editor",
  "gpg.program",
  "credential.helper",
  "filter.clean",
  "filter.smudge",
  "filter.process",
  "diff.external",
  "diff.textconv",
  "diff.command",
  "merge.driver",
  "difftool.cmd",
  "difftool.path",
  "mergetool.cmd",
  "mergetool.path",
  "man.cmd",
  "man.path",
  "browser.cmd",
  "browser.path",
  "web.browser",
  "remote.uploadpack",
  "remote.receivepack",
  "submodule.update",
  "uploadpack.packobjectshook",
  "sendemail.sendmailcmd",
  "sendemail.smtpserver",
  "sendemail.tocmd",
  "sendemail.cccmd",
  "include.path",
  "includeif.path",
  "init.templatedir",
])
/** Sections whose every key names a command (`alias.st = !cmd`, `pager.log = cmd`). */
const PROGRAM_SECTIONS = new Set(["alias", "pager"])

const SECTION_HEADER = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"(?:[^"\\]|\\.)*")?\s*\](.*)$/
const KEY_LINE = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:[=;#]|$)/

/**
 * The first setting in `content` that names a program, when `content` is shaped like a git
 * config file (its first line that is neither blank nor a comment is a `[section]` header, as
 * git requires of any config it reads, an included one too); else undefined. It is named in the
 * rule tables' words only (`core.fsmonitor`, or `alias.*` for any key of a program section),
 * never with a name taken from `content`: the content is a tool input, and the name reaches the
 * tool's error message.
 *
 * @example gitConfigProgramKey("[core]\n\tfsmonitor = x\n") // "core.fsmonitor"
 * @example gitConfigProgramKey("[alias]\n\tst = !cmd\n") // "alias.*"
 */
export function gitConfigProgramKey(content: string): string | undefined {
  let section: string | undefined
  for (const rawLine of content.replace(/^\uFEFF/, "").split(/\r?\n|\r/)) {
    let line = rawLine.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const header = SECTION_HEADER.exec(line)
    if (header) {
      // An old-style `[section.sub]` header names its subsection after the first dot.
      section = header[1]!.split(".")[0]!.toLowerCase()
      line = header[2]!.trim()
      if (line === "") continue
    } else if (section === undefined) {
      return undefined
    }
    const key = KEY_LINE.exec(line)?.[1]?.toLowerCase()
    if (key === undefined) continue
    if (PROGRAM_SECTIONS.has(section)) return `${section}.*`
    if (PROGRAM_KEYS.has(`${section}.${key}`)) return `${section}.${key}`
  }
  return undefined
}
