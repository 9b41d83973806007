/**
 * Directory identity comes from the file system: two real directories whose names differ only
 * by Unicode normalisation (or case, on a case-sensitive volume) are two projects. Keys must
 * never merge them, or a dispose of one stops the other's run and a tool writes into the
 * wrong one. Linux file systems (ext4, tmpfs) keep `café` (NFC) and `café` (NFD) apart.
 */
import fs from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createDirectoryKey, directoryKey } from "../../src/project/directory-key.ts"
import { SCRIPTED_TOOL_WRITE_INPUT } from "../../src/provider/scripted.ts"
import { startRun, startApp, tempDir, waitFor, type TestServer } from "../harness.ts"

const NFC = "caf\u00e9"
const NFD = "cafe\u0301"

/** Makes both spellings as real directories; skips (returns undefined) where the volume folds them. */
function twoCafes(base: string): { nfc: string; nfd: string } | undefined {
  const nfc = path.join(base, NFC)
  const nfd = path.join(base, NFD)
  fs.mkdirSync(nfc)
  try {
    fs.mkdirSync(nfd)
  } catch {
    return undefined // a normalisation-insensitive volume (macOS): there is only one directory
  }
  const a = fs.statSync(nfc)
  const b = fs.statSync(nfd)
  if (a.dev === b.dev && a.ino === b.ino) return undefined
  return { nfc, nfd }
}

const sameEntry = (a: string, b: string) => {
  const x = fs.statSync(a)
  const y = fs.statSync(b)
  return x.dev === y.dev && x.ino === y.ino
}

describe("directoryKey keeps distinct directories distinct", () => {
  let base: string
  beforeEach(() => {
    base = tempDir("directory-identity-")
  })
  afterEach(() => {
    fs.rmSync(base, { recursive: true, force: true })
  })

  it("gives an NFC directory and an NFD directory two keys, each naming its own directory", () => {
    const cafes = twoCafes(base)
    if (!cafes) return
    const keyNfc = directoryKey(cafes.nfc)
    const keyNfd = directoryKey(cafes.nfd)
    expect(keyNfc).not.toBe(keyNfd)
    expect(sameEntry(keyNfc, cafes.nfc)).toBe(true)
    expect(sameEntry(keyNfd, cafes.nfd)).toBe(true)
  })

  it("does not merge NFC and NFD spellings of a directory that does not exist", () => {
    const keyNfc = directoryKey(path.join(base, NFC, "later"))
    const keyNfd = directoryKey(path.join(base, NFD, "later"))
    expect(keyNfc).not.toBe(keyNfd)
  })

  it("does not merge NFC and NFD names when only one exists (the other is a different, absent name)", () => {
    fs.mkdirSync(path.join(base, NFD))
    expect(directoryKey(path.join(base, NFD))).not.toBe(directoryKey(path.join(base, NFC)))
    expect(sameEntry(directoryKey(path.join(base, NFD)), path.join(base, NFD))).toBe(true)
  })

  it("does not fold case onto a different directory even when the volume probe says it ignores case", () => {
    // A case-sensitive directory below a path the probe believes is insensitive (a mount inside a mount).
    fs.mkdirSync(path.join(base, "Project"))
    fs.mkdirSync(path.join(base, "project"))
    if (sameEntry(path.join(base, "Project"), path.join(base, "project"))) return
    const key = createDirectoryKey(() => true)
    expect(key(path.join(base, "Project"))).not.toBe(key(path.join(base, "project")))
    expect(sameEntry(key(path.join(base, "Project")), path.join(base, "Project"))).toBe(true)
  })
})

describe("two directories that differ only by normalisation, served", () => {
  let server: TestServer
  let base: string
  beforeEach(async () => {
    server = await startApp({ tickMs: 20 })
    base = tempDir("directory-identity-served-")
  })
  afterEach(async () => {
    await server.close()
    fs.rmSync(base, { recursive: true, force: true })
  })

  it("a dispose of one leaves the other's run running, and the write tool writes into the directory it ran in", async () => {
    const cafes = twoCafes(base)
    if (!cafes) return
    const { sessionId, runId } = await startRun(server, cafes.nfc, "scripted/stall")

    const dispose = await server.call("POST", "/instance/dispose", { directory: cafes.nfd })
    expect(dispose.status).toBe(200)
    expect(dispose.body.runIds ?? []).not.toContain(runId)
    const runs = await server.call("GET", `/session/${sessionId}/run`)
    const run = (runs.body as any[]).find((r) => r.runId === runId)
    expect(run.summary).toBeUndefined()
    const status = await server.call("GET", "/session/status", { directory: cafes.nfc })
    expect(status.body[sessionId]).toEqual({ type: "busy" })

    await startRun(server, cafes.nfd, "scripted/tool-write", { waitForOutput: false })
    const written = path.join(cafes.nfd, SCRIPTED_TOOL_WRITE_INPUT.path)
    await waitFor(() => fs.existsSync(written))
    expect(fs.readFileSync(written, "utf8")).toBe(SCRIPTED_TOOL_WRITE_INPUT.content)
    expect(fs.existsSync(path.join(cafes.nfc, SCRIPTED_TOOL_WRITE_INPUT.path))).toBe(false)
  })
})
