/**
 * An export saved by an editor or a shell on Windows starts with a byte-order mark and ends its
 * lines with CRLF (PowerShell's `>` even writes UTF-16). `explain` and the reader read it as the
 * same export, never as "not valid JSON".
 */
import { execFile } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, describe, expect, test } from "vitest"
import { readExport } from "../../src/provenance/export-reader.ts"
import { BIN, tempDir } from "../harness.ts"

const exec = promisify(execFile)
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")
const original = readFileSync(FIXTURE, "utf8")
const crlf = original.replace(/\r?\n/g, "\r\n")
const BOM = "\ufeff"

const dir = tempDir("oc-explain-encoding-")
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function explain(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, "explain", file])
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }
  }
}

function utf16(text: string, endian: "le" | "be"): Buffer {
  const le = Buffer.from(text, "utf16le")
  if (endian === "le") return le
  const be = Buffer.alloc(le.length)
  for (let i = 0; i < le.length; i += 2) {
    be[i] = le[i + 1]!
    be[i + 1] = le[i]!
  }
  return be
}

describe("readExport", () => {
  test("reads an export with a UTF-8 byte-order mark, CRLF line ends, or both, as the plain export", () => {
    const plain = readExport(original)
    expect(plain.ok).toBe(true)
    for (const text of [BOM + original, crlf, BOM + crlf]) {
      const result = readExport(text)
      expect(result).toEqual(plain)
    }
  })

  test("a BOM before something that is not JSON is still refused as not JSON", () => {
    const result = readExport(`${BOM}not json`)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error).toBe("The file is not valid JSON.")
  })
})

describe("opencode explain FILE", () => {
  test("explains a UTF-8 BOM + CRLF file exactly as the plain file", async () => {
    const expected = await explain(FIXTURE)
    expect(expected.code).toBe(0)
    const file = path.join(dir, "bom-crlf.json")
    writeFileSync(file, BOM + crlf, "utf8")
    const result = await explain(file)
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(expected.stdout)
  })

  test("explains a UTF-8 BOM file and a CRLF file", async () => {
    const expected = await explain(FIXTURE)
    for (const [name, text] of [
      ["bom.json", BOM + original],
      ["crlf.json", crlf],
    ] as const) {
      const file = path.join(dir, name)
      writeFileSync(file, text, "utf8")
      const result = await explain(file)
      expect(result.stderr, name).toBe("")
      expect(result.stdout, name).toBe(expected.stdout)
    }
  })

  test("explains a UTF-16 file with its byte-order mark (PowerShell's redirection), either byte order", async () => {
    const expected = await explain(FIXTURE)
    for (const endian of ["le", "be"] as const) {
      const file = path.join(dir, `utf16${endian}.json`)
      writeFileSync(file, utf16(BOM + crlf, endian))
      const result = await explain(file)
      expect(result.stderr, endian).toBe("")
      expect(result.stdout, endian).toBe(expected.stdout)
    }
  })
})
