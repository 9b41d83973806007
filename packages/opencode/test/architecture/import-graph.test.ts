/**
 * The layering, checked on the import graph the TypeScript compiler reads
 * (docs/architecture.md, "Layout"):
 * - provenance/ (the spine's derivation) imports nothing of server/ or storage/, nor hono or node:fs;
 * - its browser-safe core (everything but provenance/node/) imports no Node builtin and uses no
 *   Node global, and neither does anything the app's entry (`opencode/provenance`) reaches;
 * - session/ and project/ import nothing of server/ (the bus is bus/, errors they throw api-error.ts);
 * - session/ imports nothing of the instance store (runs are held by instances, not the reverse);
 * - no two files import each other;
 * - the app imports nothing of the server but the browser-safe entry;
 * - Hono's context variables are typed (ContextVariableMap): no `c.get(...) as T` in src.
 */
import path from "node:path"
import ts from "typescript"
import { describe, expect, test } from "vitest"
import {
  APP_SRC,
  type Import,
  importsOf,
  nodeGlobalsUsed,
  OPENCODE_SRC,
  parse,
  sourceFiles,
  where,
  within,
} from "./source-graph.ts"

const SRC = OPENCODE_SRC
const dir = (name: string) => path.join(SRC, name)
const PROVENANCE = dir("provenance")
const PROVENANCE_NODE = dir("provenance/node")
const BROWSER_ENTRY = path.join(PROVENANCE, "index.ts")

const files = sourceFiles(SRC)
const graph = new Map(files.map((file) => [file, importsOf(parse(file))]))
const shown = (found: Import[]) => found.map((i) => `${where(i.file, i.line)} imports ${i.specifier}`)

const isFileIn = (i: Import, folder: string) => i.target.kind === "file" && within(i.target.file, folder)
const isPackage = (i: Import, name: string) => i.target.kind === "package" && i.target.name === name
const isBuiltin = (i: Import, name?: string) =>
  i.target.kind === "builtin" && (name === undefined || i.target.name === name || i.target.name.startsWith(`${name}/`))

/** Imports of files in `folder` (minus `except`) that `bad` matches. */
function violations(folder: string, bad: (i: Import) => boolean, except?: string): Import[] {
  return [...graph.entries()]
    .filter(([file]) => within(file, folder) && !(except && within(file, except)))
    .flatMap(([, imports]) => imports.filter(bad))
}

/** Every source file `entry` reaches through its imports (type-only ones included). */
function closure(entry: string): string[] {
  const seen = new Set<string>()
  const walk = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const i of graph.get(file) ?? importsOf(parse(file))) if (i.target.kind === "file") walk(i.target.file)
  }
  walk(entry)
  return [...seen]
}

describe("the import graph", () => {
  test("it is read: every src file parses and relative imports resolve to files that exist", () => {
    expect(files.length).toBeGreaterThan(50)
    const missing = [...graph.values()]
      .flat()
      .filter((i) => i.target.kind === "file" && !files.includes(i.target.file) && !/\.(json|cjs)$/.test(i.target.file))
    expect(shown(missing)).toEqual([])
  })

  test("provenance/ imports nothing of server/ or storage/, nor hono or node:fs", () => {
    const found = violations(
      PROVENANCE,
      (i) =>
        isFileIn(i, dir("server")) ||
        isFileIn(i, dir("storage")) ||
        isPackage(i, "hono") ||
        isPackage(i, "@hono/node-server") ||
        isBuiltin(i, "fs"),
    )
    expect(shown(found)).toEqual([])
  })

  test("provenance's core (all but provenance/node/) is browser-safe: no Node builtin, no Node global, no Node helper", () => {
    const found = violations(PROVENANCE, (i) => isBuiltin(i) || isFileIn(i, PROVENANCE_NODE), PROVENANCE_NODE)
    expect(shown(found)).toEqual([])
    const globals = files
      .filter((file) => within(file, PROVENANCE) && !within(file, PROVENANCE_NODE))
      .flatMap((file) => nodeGlobalsUsed(parse(file)).map((use) => `${where(file, use.line)} uses ${use.name}`))
    expect(globals).toEqual([])
  })

  test("what the app's entry (opencode/provenance) reaches is the browser-safe core and zod only", () => {
    const reached = closure(BROWSER_ENTRY)
    expect(
      reached.filter((file) => !within(file, PROVENANCE) || within(file, PROVENANCE_NODE)).map((file) => where(file)),
    ).toEqual([])
    const packages = reached.flatMap((file) => graph.get(file)!).filter((i) => i.target.kind !== "file")
    expect([...new Set(packages.map((i) => i.specifier))]).toEqual(["zod"])
  })

  test("session/ and project/ import nothing of server/", () => {
    const found = [
      ...violations(dir("session"), (i) => isFileIn(i, dir("server"))),
      ...violations(dir("project"), (i) => isFileIn(i, dir("server"))),
    ]
    expect(shown(found)).toEqual([])
  })

  test("session/ imports nothing of the instance store: runs never depend on what holds them", () => {
    const store = dir("project/instance-store.ts")
    const found = violations(dir("session"), (i) => i.target.kind === "file" && i.target.file === store)
    expect(shown(found)).toEqual([])
  })

  test("no two files import each other (type-only imports included)", () => {
    const importsFile = (from: string, to: string) =>
      (graph.get(from) ?? []).some((i) => i.target.kind === "file" && i.target.file === to)
    const loops = files.flatMap((file) =>
      (graph.get(file) ?? []).flatMap((i) =>
        i.target.kind === "file" && file < i.target.file && importsFile(i.target.file, file)
          ? [`${where(file)} <-> ${where(i.target.file)}`]
          : [],
      ),
    )
    expect([...new Set(loops)]).toEqual([])
  })

  test("the app imports nothing of the server but its browser-safe entry, opencode/provenance", () => {
    const appImports = sourceFiles(APP_SRC).flatMap((file) => importsOf(parse(file)))
    const server = path.dirname(SRC)
    const found = appImports.filter(
      (i) =>
        (i.target.kind === "file" && within(i.target.file, server)) ||
        i.specifier.startsWith("opencode/") ||
        i.specifier === "opencode",
    )
    expect(shown(found.filter((i) => i.specifier !== "opencode/provenance"))).toEqual([])
    expect(found.length).toBeGreaterThan(0)
  })

  test("Hono's context variables are read typed: no cast of c.get(...) or c.var", () => {
    const casts: string[] = []
    for (const file of files) {
      const source = parse(file)
      const visit = (node: ts.Node) => {
        if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) {
          const inner = node.expression
          const read = ts.isCallExpression(inner) ? inner.expression : inner
          if (
            ts.isPropertyAccessExpression(read) &&
            ts.isIdentifier(read.expression) &&
            read.expression.text === "c" &&
            (read.name.text === "get" || read.name.text === "var")
          ) {
            casts.push(
              `${where(file, source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1)}: ${node.getText(source)}`,
            )
          }
        }
        ts.forEachChild(node, visit)
      }
      visit(source)
    }
    expect(casts).toEqual([])
  })
})

describe("the checks themselves", () => {
  const virtual = (relative: string, text: string) => importsOf(parse(path.join(SRC, relative), text))

  test("a forbidden import is found however it is written", () => {
    const text = [
      "// import x from 'node:fs' in a comment is not an import",
      'const s = "import y from \\"hono\\""',
      'import type { Host } from "../server/app.ts"',
      'export { a } from "../storage/journal.ts"',
      'const fs = await import("node:fs")',
      "import {",
      "  readFileSync,",
      '} from "fs"',
    ].join("\n")
    const found = virtual("provenance/bad.ts", text)
    expect(found.map((i) => i.specifier)).toEqual(["../server/app.ts", "../storage/journal.ts", "node:fs", "fs"])
    expect(found.map((i) => i.line)).toEqual([3, 4, 5, 6])
    expect(found[0]!.typeOnly).toBe(true)
    expect(found.every((i) => i.target.kind === "file" || i.target.kind === "builtin")).toBe(true)
  })

  test("a Node global is found, a property of the same name is not", () => {
    const source = parse(
      path.join(SRC, "provenance/bad.ts"),
      "const a = Buffer.from('x')\nconst b = { process: 1 }.process\nexport type T = Buffer",
    )
    expect(nodeGlobalsUsed(source)).toEqual([{ name: "Buffer", line: 1 }])
  })
})
