import fs from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  caseInsensitiveAt,
  createDirectoryKey,
  decodeDirectoryParam,
  directoryKey,
  InvalidDirectoryError,
  MAX_DIRECTORY_LENGTH,
  validateProjectDirectory,
} from "../../src/project/directory-key.ts"

let base: string
let project: string

beforeEach(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(tmpdir(), "directory-key-")))
  project = path.join(base, "Project")
  fs.mkdirSync(project)
})

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true })
})

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    if (!(error instanceof InvalidDirectoryError)) return `not an InvalidDirectoryError: ${String(error)}`
    expect(error.code).toBe("invalid_directory")
    return error.reason
  }
}

describe("directoryKey", () => {
  it("gives one key to every spelling of one directory", () => {
    const key = directoryKey(project)
    expect(directoryKey(`${project}/`)).toBe(key)
    expect(directoryKey(`${project}//`)).toBe(key)
    expect(directoryKey(`${project}/./`)).toBe(key)
    expect(directoryKey(`${project}/../Project`)).toBe(key)
    expect(directoryKey(path.relative(process.cwd(), project))).toBe(key)
  })

  it("follows a symlink alias to the real directory", () => {
    const alias = path.join(base, "alias")
    fs.symlinkSync(project, alias)
    expect(directoryKey(alias)).toBe(directoryKey(project))
    expect(directoryKey(`${alias}/`)).toBe(directoryKey(project))
  })

  it("keys a path that does not exist yet by its existing ancestor's real path plus the rest", () => {
    const alias = path.join(base, "alias")
    fs.symlinkSync(project, alias)
    expect(directoryKey(path.join(alias, "not", "yet"))).toBe(path.join(directoryKey(project), "not", "yet"))
    expect(directoryKey(path.join(alias, "not", "yet") + "/")).toBe(path.join(directoryKey(project), "not", "yet"))
  })

  it("folds an NFD name to NFC only where the file system says the NFC name is the same directory", () => {
    const nfc = "caf\u00e9"
    const nfd = "cafe\u0301"
    fs.mkdirSync(path.join(base, nfd))
    const fromNfd = directoryKey(path.join(base, nfd))
    const sameDirectory = fs.existsSync(path.join(base, nfc)) // a normalisation-insensitive volume (macOS)
    if (sameDirectory) {
      expect(fromNfd).toBe(directoryKey(path.join(base, nfc)))
      expect(fromNfd).toBe(path.join(directoryKey(base), nfc))
    } else {
      // Linux: `café` (NFC) is another name, free for another directory.
      expect(fromNfd).toBe(path.join(directoryKey(base), nfd))
      expect(fromNfd).not.toBe(directoryKey(path.join(base, nfc)))
    }
  })

  it("keeps the root and does not strip it", () => {
    expect(directoryKey("/")).toBe("/")
    expect(directoryKey("//")).toBe("/")
  })

  it("does not fold case on a case-sensitive volume", () => {
    if (caseInsensitiveAt(base)) return // a case-insensitive tmp (macOS): covered below
    fs.mkdirSync(path.join(base, "project"))
    expect(directoryKey(path.join(base, "project"))).not.toBe(directoryKey(project))
    expect(directoryKey(project)).toBe(project)
  })

  it("folds case when the volume ignores it", () => {
    // A simulated case-insensitive volume: every case spelling names one entry.
    const insensitive = createDirectoryKey(
      () => true,
      (a, b) => a.toLowerCase() === b.toLowerCase(),
    )
    expect(insensitive(project)).toBe(insensitive(path.join(base, "PROJECT")))
    expect(insensitive(project)).toBe(insensitive(project).toLowerCase())
  })

  it("caches the case probe per volume and answers the same for a directory and a file on it", () => {
    const file = path.join(project, "file.txt")
    fs.writeFileSync(file, "")
    expect(caseInsensitiveAt(file)).toBe(caseInsensitiveAt(project))
  })
})

describe("decodeDirectoryParam", () => {
  it("decodes the SDK's percent-encoding, a literal % included", () => {
    expect(decodeDirectoryParam(encodeURIComponent("/tmp/my project"))).toBe("/tmp/my project")
    expect(decodeDirectoryParam(encodeURIComponent("/tmp/100%"))).toBe("/tmp/100%")
    expect(decodeDirectoryParam(encodeURIComponent("/tmp/caf\u00e9"))).toBe("/tmp/caf\u00e9")
    expect(decodeDirectoryParam("/plain/path")).toBe("/plain/path")
  })

  it("re-reads a raw UTF-8 header that arrived as latin1", () => {
    const latin1 = Buffer.from("/tmp/caf\u00e9", "utf8").toString("latin1")
    expect(decodeDirectoryParam(latin1)).toBe("/tmp/caf\u00e9")
  })

  it("throws a typed error for malformed encoding", () => {
    expect(reasonOf(() => decodeDirectoryParam("/tmp/100%"))).toBe("malformed_encoding")
    expect(reasonOf(() => decodeDirectoryParam("%zz"))).toBe("malformed_encoding")
    expect(reasonOf(() => decodeDirectoryParam("%E0%A4%A"))).toBe("malformed_encoding")
  })
})

describe("validateProjectDirectory", () => {
  it("returns an existing absolute directory, resolved", () => {
    expect(validateProjectDirectory(`${project}/./`)).toBe(project)
    const alias = path.join(base, "alias")
    fs.symlinkSync(project, alias)
    expect(validateProjectDirectory(alias)).toBe(alias)
  })

  it("refuses what is not an absolute existing directory", () => {
    const file = path.join(base, "file.txt")
    fs.writeFileSync(file, "")
    expect(reasonOf(() => validateProjectDirectory(""))).toBe("empty")
    expect(reasonOf(() => validateProjectDirectory("relative/dir"))).toBe("relative")
    expect(reasonOf(() => validateProjectDirectory("./"))).toBe("relative")
    expect(reasonOf(() => validateProjectDirectory(`${project}\0/x`))).toBe("nul_byte")
    expect(reasonOf(() => validateProjectDirectory(path.join(base, "missing")))).toBe("not_found")
    expect(reasonOf(() => validateProjectDirectory(file))).toBe("not_a_directory")
    expect(reasonOf(() => validateProjectDirectory(`/${"a".repeat(MAX_DIRECTORY_LENGTH)}`))).toBe("too_long")
  })

  it("does not echo a NUL byte or an overlong path into its message", () => {
    try {
      validateProjectDirectory(`/tmp/${"x".repeat(1000)}`)
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(250)
    }
    try {
      validateProjectDirectory("/tmp/a\0b")
    } catch (error) {
      expect((error as Error).message).not.toContain("\0")
    }
  })
})
