/**
 * Every server call goes through the one client module (src/context/server.ts), which sets the
 * directory, auth and provenance headers. A direct fetch anywhere else would send requests the
 * server cannot attribute, so this static scan fails on one.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const SRC = join(import.meta.dirname, "..", "src")
const CLIENT_MODULE = "context/server.ts"
/** EventSource cannot go through fetch; its one home is the events context. */
const EVENT_SOURCE_MODULE = "context/events.tsx"

const DIRECT_FETCH = /(?<![\w$.])(?:(?:window|globalThis|self)\s*\.\s*)?fetch\s*\(/
const OTHER_TRANSPORTS = /\bnew\s+XMLHttpRequest\b|\bnavigator\s*\.\s*sendBeacon\s*\(/
const EVENT_SOURCE = /\bnew\s+EventSource\s*\(/

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "__tests__" ? [] : sourceFiles(path)
    return /\.(ts|tsx|js|jsx|mjs)$/.test(entry.name) ? [path] : []
  })
}

function offenders(pattern: RegExp, allowed: string): string[] {
  return sourceFiles(SRC)
    .map((path) => relative(SRC, path).split("\\").join("/"))
    .filter((file) => file !== allowed)
    .flatMap((file) =>
      readFileSync(join(SRC, file), "utf8")
        .split("\n")
        .flatMap((line, index) => (pattern.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])),
    )
}

describe("server calls go through the client module", () => {
  it("the scanner recognises the forms of a direct call", () => {
    for (const line of [
      "fetch(url)",
      "await fetch (url, init)",
      "window.fetch(url)",
      "globalThis.fetch(url)",
      "const r = self.fetch(u)",
    ]) {
      expect(DIRECT_FETCH.test(line), line).toBe(true)
    }
    for (const line of ["refetch()", "prefetch(x)", "client.fetchQuery(x)", "void refetch()"]) {
      expect(DIRECT_FETCH.test(line), line).toBe(false)
    }
  })

  it("scans a non-trivial tree that includes the client module", () => {
    const files = sourceFiles(SRC).map((path) => relative(SRC, path).split("\\").join("/"))
    expect(files).toContain(CLIENT_MODULE)
    expect(files.length).toBeGreaterThan(10)
    // The client module itself must really call fetch, or the allow-list guards nothing.
    expect(DIRECT_FETCH.test(readFileSync(join(SRC, CLIENT_MODULE), "utf8"))).toBe(true)
  })

  it("no file under src/ other than the client module calls fetch(", () => {
    expect(offenders(DIRECT_FETCH, CLIENT_MODULE)).toEqual([])
  })

  it("no file uses XMLHttpRequest or sendBeacon instead", () => {
    expect(offenders(OTHER_TRANSPORTS, "")).toEqual([])
  })

  it("only the events context opens an EventSource", () => {
    expect(offenders(EVENT_SOURCE, EVENT_SOURCE_MODULE)).toEqual([])
  })
})
