/**
 * The repository's sources as the TypeScript compiler parses them: each file's imports (static,
 * re-exports, `import()` and `require()`), resolved to a file, a package or a Node builtin. Read
 * from the syntax tree, so comments, strings and line breaks cannot hide or fake an import.
 */
import { readdirSync, readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
export const OPENCODE_SRC = path.join(REPO, "packages/opencode/src")
export const APP_SRC = path.join(REPO, "packages/app/src")

const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/

/** Source files under `dir`, tests left out. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "__tests__" || entry.name === "node_modules" ? [] : sourceFiles(full)
    return SOURCE.test(entry.name) && !/\.test\./.test(entry.name) ? [full] : []
  })
}

export function parse(file: string, text = readFileSync(file, "utf8")): ts.SourceFile {
  const kind = file.endsWith(".tsx")
    ? ts.ScriptKind.TSX
    : /\.(c|m)?js$/.test(file)
      ? ts.ScriptKind.JS
      : ts.ScriptKind.TS
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind)
}

export type Target =
  | { kind: "file"; file: string }
  | { kind: "builtin"; name: string }
  | { kind: "package"; name: string; subpath: string }

export interface Import {
  /** The importing file. */
  file: string
  line: number
  specifier: string
  typeOnly: boolean
  target: Target
}

/** Where the `opencode` package's exports point (packages/opencode/package.json). */
function resolveOpencode(subpath: string): string {
  if (subpath === "provenance") return path.join(OPENCODE_SRC, "provenance/index.ts")
  if (subpath === "provenance/node") return path.join(OPENCODE_SRC, "provenance/node/index.ts")
  return path.join(OPENCODE_SRC, `${subpath}.ts`)
}

export function resolve(from: string, specifier: string): Target {
  if (specifier.startsWith(".")) return { kind: "file", file: path.resolve(path.dirname(from), specifier) }
  const bare = specifier.replace(/^node:/, "")
  if (specifier.startsWith("node:") || builtinModules.includes(bare.split("/")[0]!))
    return { kind: "builtin", name: bare }
  const parts = specifier.split("/")
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
  const subpath = specifier.slice(name.length + 1)
  if (name === "opencode") return { kind: "file", file: resolveOpencode(subpath) }
  return { kind: "package", name, subpath }
}

/** Every import of a parsed file. */
export function importsOf(source: ts.SourceFile): Import[] {
  const found: Import[] = []
  const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1
    found.push({
      file: source.fileName,
      line,
      specifier: literal.text,
      typeOnly,
      target: resolve(source.fileName, literal.text),
    })
  }
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, node.importClause?.isTypeOnly === true)
    else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, node.isTypeOnly)
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node, node.moduleReference.expression, node.isTypeOnly)
    else if (ts.isCallExpression(node)) {
      const dynamic = node.expression.kind === ts.SyntaxKind.ImportKeyword
      const required = ts.isIdentifier(node.expression) && node.expression.text === "require"
      if (dynamic || required) add(node, node.arguments[0], false)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node, node.argument.literal as ts.Expression, true)
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** Global names a browser does not have, read as values (not declared in the file). */
export function nodeGlobalsUsed(source: ts.SourceFile): { name: string; line: number }[] {
  const names = new Set(["Buffer", "process", "__dirname", "__filename", "require"])
  const used: { name: string; line: number }[] = []
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && names.has(node.text)) {
      const parent = node.parent
      const isName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        ts.isTypeReferenceNode(parent)
      if (!isName)
        used.push({ name: node.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return used
}

/** A repository path for messages: `packages/opencode/src/x.ts:12`. */
export function where(file: string, line?: number): string {
  const relative = path.relative(REPO, file).split(path.sep).join("/")
  return line === undefined ? relative : `${relative}:${line}`
}

/** Whether `file` lies inside `dir`. */
export function within(file: string, dir: string): boolean {
  const relative = path.relative(dir, file)
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative)
}
