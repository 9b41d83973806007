/**
 * No export of the server or the app is dead: each one is imported by another file (a source, a
 * test, the bench, a script, e2e). A name used only in its own file is not exported; a name used
 * nowhere is not written. The few kept for tools outside the repository are listed with why.
 */
import path from "node:path"
import { describe, expect, test } from "vitest"
import { deadExports } from "./dead-exports.ts"
import { parse, REPO, where } from "./source-graph.ts"

/** `file name` → why it stays exported though nothing here imports it. */
const KEPT: Record<string, string> = {
  "packages/opencode/src/provenance/index.ts SESSION_EXPORT_SCHEMA_ID":
    "the export's identity: a tool checking a file against schema/session-export.json compares its $schema with it",
  "packages/opencode/src/provenance/index.ts SUPPORTED_EXPORT_VERSION":
    "the export version this entry reads: a tool holding a file tells from it whether readExport can read it",
}

describe("dead exports", () => {
  test("every export of packages/opencode/src and packages/app/src is imported by another file", () => {
    const found = deadExports(undefined, undefined, Object.keys(KEPT)).map(
      (entry) =>
        `${where(entry.file, entry.line)} ${entry.name}: ${entry.usedInFile ? "drop `export`" : "used nowhere: remove it"}`,
    )
    expect(found).toEqual([])
  })

  test("every name kept for outside tools is exported and imported by nothing here (else it leaves the list)", () => {
    const dead = new Set(deadExports().map((entry) => `${where(entry.file)} ${entry.name}`))
    expect(Object.keys(KEPT).filter((entry) => !dead.has(entry))).toEqual([])
  })
})

describe("the dead-export check itself", () => {
  const file = (relative: string) => path.join(REPO, relative)
  const run = (files: Record<string, string>) => {
    const names = Object.keys(files).map(file)
    const texts = new Map(names.map((name, index) => [name, Object.values(files)[index]!]))
    return deadExports(names, (name) => parse(name, texts.get(name))).map(
      (entry) => `${where(entry.file)} ${entry.name}${entry.usedInFile ? "" : " (unused)"}`,
    )
  }

  test("named, default, namespace, dynamic and type imports use what they name; re-exports pass names on", () => {
    const found = run({
      "packages/opencode/src/a.ts": [
        "export const used = 1",
        "export const viaStar = 2",
        "export const viaNamespace = 3",
        "export const viaDynamic = 4",
        "export type ViaTypeImport = string",
        "export const local = 5",
        "export const nowhere = 6",
        "export default function main() {}",
        "const x = local",
      ].join("\n"),
      "packages/opencode/src/index.ts": 'export * from "./a.ts"\nexport { used as renamed } from "./a.ts"',
      "packages/opencode/test/t.test.ts": [
        'import { renamed } from "../src/index.ts"',
        'import { viaStar } from "../src/index.ts"',
        'import * as ns from "../src/a.ts"',
        'import main from "../src/a.ts"',
        "ns.viaNamespace",
        'const { viaDynamic } = await import("../src/a.ts")',
        'let t: import("../src/a.ts").ViaTypeImport',
      ].join("\n"),
    })
    expect(found).toEqual(["packages/opencode/src/a.ts local", "packages/opencode/src/a.ts nowhere (unused)"])
  })

  test("a namespace passed on whole uses every name; the app's opencode/provenance is the provenance entry", () => {
    const found = run({
      "packages/opencode/src/provenance/index.ts": 'export { a } from "./b.ts"\nexport const unread = 1',
      "packages/opencode/src/provenance/b.ts": "export const a = 1\nexport const b = 2",
      "packages/opencode/src/c.ts": "export const whole = 1\nexport const other = 2",
      "packages/app/src/d.ts":
        'import { a } from "opencode/provenance"\nimport * as c from "../../opencode/src/c.ts"\nuse(c)',
    })
    expect(found).toEqual([
      "packages/opencode/src/provenance/b.ts b (unused)",
      "packages/opencode/src/provenance/index.ts unread (unused)",
    ])
  })
})
