/**
 * The layering, checked on the import graph the TypeScript compiler reads:
 * - every folder of src/ (and every root file) reaches only the folders docs/architecture.md's
 *   table "Who may reach whom" gives it, through any chain of imports, type-only ones included;
 *   the table is parsed from the document, so the document and this check are one fact;
 * - provenance/ imports neither hono nor node:fs;
 * - its browser-safe core (everything but provenance/node/) imports no Node builtin and uses no
 *   Node global, and neither does anything the app's entry (`opencode/provenance`) reaches;
 * - session/ imports nothing of the instance store (runs are held by instances, not the reverse);
 * - no two files import each other;
 * - the app imports nothing of the server but the browser-safe entry;
 * - Hono's context variables are typed (ContextVariableMap): no `c.get(...) as T` in src.
 */
import { readFileSync } from "node:fs"
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
  REPO,
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

/** A layer's name as the table writes it: a folder of src/ (`session/`) or a root file (`host.ts`). */
type Layer = string

/**
 * docs/architecture.md's table "Who may reach whom": each layer and the layers it may reach. A
 * cell names layers in backticks; "nothing" (no backticks) is an empty set.
 */
function reachTable(markdown: string): Map<Layer, Set<Layer>> {
  const start = markdown.search(/^## Who may reach whom$/m)
  if (start < 0) throw new Error('docs/architecture.md has no section "Who may reach whom"')
  const end = markdown.indexOf("\n## ", start)
  const rows = markdown
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .slice(1) // the header
  const table = new Map<Layer, Set<Layer>>()
  for (const row of rows) {
    const [name, reach] = row
      .split("|")
      .slice(1, 3)
      .map((cell) => cell.trim())
    const layer = /^`([^`]+)`$/.exec(name ?? "")?.[1]
    if (!layer) throw new Error(`a row of "Who may reach whom" names no layer: ${row}`)
    if (table.has(layer)) throw new Error(`"Who may reach whom" names ${layer} twice`)
    table.set(layer, new Set([...(reach ?? "").matchAll(/`([^`]+)`/g)].map((match) => match[1]!)))
  }
  return table
}

/** The layer a file of src/ belongs to: the innermost folder the table names, or the root file itself. */
function layerOf(table: Map<Layer, Set<Layer>>, file: string): Layer | undefined {
  const relative = path.relative(SRC, file).split(path.sep).join("/")
  if (table.has(relative)) return relative
  return [...table.keys()]
    .filter((layer) => layer.endsWith("/") && relative.startsWith(layer))
    .sort((a, b) => b.length - a.length)[0]
}

/**
 * Every reach the table forbids, one per (layer, forbidden layer), as the shortest chain of files
 * that makes it: `session/ may not reach server/: session/a.ts → cli/serve.ts → server/app.ts`.
 */
function forbiddenReaches(edges: Map<string, string[]>, table: Map<Layer, Set<Layer>>): string[] {
  const found: string[] = []
  const shortName = (file: string) => path.relative(SRC, file).split(path.sep).join("/")
  for (const [layer, allowed] of table) {
    // One breadth-first walk from all of the layer's files at once: the first path to a file is a shortest one.
    const starts = [...edges.keys()].filter((file) => layerOf(table, file) === layer)
    const before = new Map<string, string | undefined>(starts.map((file) => [file, undefined]))
    const queue = [...starts]
    const reported = new Set<Layer>()
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const reached = layerOf(table, next)
      if (reached !== undefined && reached !== layer && !allowed.has(reached) && !reported.has(reached)) {
        reported.add(reached)
        const chain: string[] = []
        for (let at: string | undefined = next; at !== undefined; at = before.get(at)) chain.unshift(shortName(at))
        found.push(`${layer} may not reach ${reached}: ${chain.join(" → ")}`)
      }
      for (const target of edges.get(next) ?? [])
        if (!before.has(target)) {
          before.set(target, next)
          queue.push(target)
        }
    }
  }
  return found.sort()
}

const DOC = path.join(REPO, "docs/architecture.md")
const table = reachTable(readFileSync(DOC, "utf8"))
/** Source files and the source files each imports, type-only imports included. */
const edges = new Map(
  files.map((file) => [
    file,
    [
      ...new Set(
        graph
          .get(file)!
          .flatMap((i) => (i.target.kind === "file" && files.includes(i.target.file) ? [i.target.file] : [])),
      ),
    ],
  ]),
)

describe("the import graph", () => {
  test("it is read: every src file parses and relative imports resolve to files that exist", () => {
    expect(files.length).toBeGreaterThan(50)
    const missing = [...graph.values()]
      .flat()
      .filter((i) => i.target.kind === "file" && !files.includes(i.target.file) && !/\.(json|cjs)$/.test(i.target.file))
    expect(shown(missing)).toEqual([])
  })

  test('every file of src/ belongs to a layer of "Who may reach whom", and every layer exists', () => {
    expect(files.filter((file) => layerOf(table, file) === undefined).map((file) => where(file))).toEqual([])
    expect([...table.keys()].filter((layer) => !files.some((file) => layerOf(table, file) === layer))).toEqual([])
  })

  test('"Who may reach whom" is a layering: it names only its own layers, and none can reach back to itself', () => {
    const problems: string[] = []
    for (const [layer, allowed] of table)
      for (const other of allowed) if (!table.has(other)) problems.push(`${layer} may reach ${other}, which has no row`)
    // Follow the rows themselves: a layer that may reach one that may reach it back is no layer.
    for (const layer of table.keys()) {
      const seen = new Set<Layer>()
      const walk = (from: Layer, trail: Layer[]) => {
        for (const next of table.get(from) ?? []) {
          if (next === layer) problems.push(`${[...trail, next].join(" → ")} is a loop`)
          else if (!seen.has(next)) {
            seen.add(next)
            walk(next, [...trail, next])
          }
        }
      }
      walk(layer, [layer])
    }
    expect(problems).toEqual([])
  })

  test('no layer reaches one its row of "Who may reach whom" leaves out, through any chain of imports', () => {
    expect(forbiddenReaches(edges, table)).toEqual([])
  })

  test("provenance/ imports neither hono nor node:fs", () => {
    const found = violations(
      PROVENANCE,
      (i) => isPackage(i, "hono") || isPackage(i, "@hono/node-server") || isBuiltin(i, "fs"),
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

  test("a reach through another layer is found, and named by its chain of files", () => {
    const layers = reachTable(
      [
        "## Who may reach whom",
        "",
        "| layer | may reach |",
        "|---|---|",
        "| `cli/` | `server/`, `session/` |",
        "| `server/` | `session/` |",
        "| `session/` | nothing |",
        "| `host.ts` | `session/` |",
        "",
        "## Next",
        "| `tool/` | not this section's |",
      ].join("\n"),
    )
    expect([...layers.keys()]).toEqual(["cli/", "server/", "session/", "host.ts"])
    const file = (relative: string) => path.join(SRC, relative)
    const graphOf = (pairs: [string, string[]][]) =>
      new Map(pairs.map(([from, to]) => [file(from), to.map(file)] as [string, string[]]))
    const allowed = graphOf([
      ["cli/serve.ts", ["server/app.ts"]],
      ["server/app.ts", ["session/processor.ts", "host.ts"]],
      ["host.ts", ["session/processor.ts"]],
      ["session/processor.ts", ["session/run-state.ts"]],
      ["session/run-state.ts", []],
    ])
    expect(forbiddenReaches(allowed, layers)).toEqual([
      "cli/ may not reach host.ts: cli/serve.ts → server/app.ts → host.ts",
      "server/ may not reach host.ts: server/app.ts → host.ts",
    ])
    const reachingUp = graphOf([
      ["cli/serve.ts", ["server/app.ts"]],
      ["server/app.ts", []],
      ["session/processor.ts", ["session/run-state.ts"]],
      ["session/run-state.ts", ["cli/serve.ts"]],
    ])
    expect(forbiddenReaches(reachingUp, layers)).toEqual([
      "session/ may not reach cli/: session/run-state.ts → cli/serve.ts",
      "session/ may not reach server/: session/run-state.ts → cli/serve.ts → server/app.ts",
    ])
  })

  test("a Node global is found, a property of the same name is not", () => {
    const source = parse(
      path.join(SRC, "provenance/bad.ts"),
      "const a = Buffer.from('x')\nconst b = { process: 1 }.process\nexport type T = Buffer",
    )
    expect(nodeGlobalsUsed(source)).toEqual([{ name: "Buffer", line: 1 }])
  })
})
