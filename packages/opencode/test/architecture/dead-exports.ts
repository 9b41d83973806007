/**
 * Exports nothing imports: every `export` of packages/opencode/src and packages/app/src that no
 * other file of the repository (sources, tests, bench, scripts, e2e, configs) imports. Read from
 * the syntax tree the TypeScript compiler parses, as source-graph.ts reads imports:
 * - `import { a as b }`, default imports, `import type`, `export { a } from` and `import("x").T`
 *   use the names they name;
 * - `export * from` passes names through: a name imported from the re-exporting file uses the
 *   file that declares it;
 * - a namespace (`import * as ns`, `await import(...)` held in a variable) uses the names read
 *   off it (`ns.a`), or every name when it is passed on whole;
 * - `opencode/provenance` (the app's entry) and `opencode/x` resolve as packages/opencode's
 *   package.json says.
 * A name used only inside its own file should not be exported.
 *
 *   npx tsx packages/opencode/test/architecture/dead-exports.ts    prints them
 */
import { execFileSync } from "node:child_process"
import { existsSync, statSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { APP_SRC, OPENCODE_SRC, parse, REPO, resolve, where, within } from "./source-graph.ts"

export interface DeadExport {
  /** The exporting file (absolute). */
  file: string
  name: string
  line: number
  /** Whether the file itself uses the name (then only the `export` goes; otherwise the code does too). */
  usedInFile: boolean
}

/** What a file exports, and where each name comes from. */
interface ModuleExports {
  /** Names the file exports itself (declared here, or re-exported by name), with their line. */
  own: Map<string, { line: number; from?: { file: string; name: string } }>
  /** Files whose names pass through `export * from`. */
  stars: string[]
}

const SCRIPT = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/

type Resolver = (from: string, specifier: string) => string | undefined

/** The file a specifier names among `known` files or on disk, probing the extensions the bundler and tsx accept. */
function resolverFor(known: Set<string>): Resolver {
  return (from, specifier) => {
    const target = resolve(from, specifier)
    if (target.kind !== "file") return undefined
    const base = target.file
    const candidates = [base, `${base}.ts`, `${base}.tsx`, base.replace(/\.js$/, ".ts"), path.join(base, "index.ts")]
    return candidates.find((file) => known.has(file) || (existsSync(file) && statSync(file).isFile()))
  }
}

function lineOf(source: ts.SourceFile, node: ts.Node): number {
  return source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1
}

const hasExport = (node: ts.Node) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
const hasDefault = (node: ts.Node) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)

function bindingNames(name: ts.BindingName): ts.Identifier[] {
  if (ts.isIdentifier(name)) return [name]
  return name.elements.flatMap((element) => (ts.isOmittedExpression(element) ? [] : bindingNames(element.name)))
}

function exportsOf(source: ts.SourceFile, resolveFile: Resolver): ModuleExports {
  const own: ModuleExports["own"] = new Map()
  const stars: string[] = []
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const from =
        statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)
          ? resolveFile(source.fileName, statement.moduleSpecifier.text)
          : undefined
      const clause = statement.exportClause
      if (!clause) {
        if (from) stars.push(from)
      } else if (ts.isNamespaceExport(clause)) {
        own.set(clause.name.text, {
          line: lineOf(source, statement),
          from: from ? { file: from, name: "*" } : undefined,
        })
      } else {
        for (const element of clause.elements)
          own.set(element.name.text, {
            line: lineOf(source, element),
            from: from ? { file: from, name: (element.propertyName ?? element.name).text } : undefined,
          })
      }
      continue
    }
    if (ts.isExportAssignment(statement)) {
      own.set("default", { line: lineOf(source, statement) })
      continue
    }
    if (!hasExport(statement)) continue
    if (hasDefault(statement)) own.set("default", { line: lineOf(source, statement) })
    else if (ts.isVariableStatement(statement))
      for (const declaration of statement.declarationList.declarations)
        for (const id of bindingNames(declaration.name)) own.set(id.text, { line: lineOf(source, id) })
    else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement) ||
        ts.isModuleDeclaration(statement)) &&
      statement.name &&
      ts.isIdentifier(statement.name)
    )
      own.set(statement.name.text, { line: lineOf(source, statement) })
  }
  return { own, stars }
}

/** The names a namespace identifier is read with (`ns.a`, `ns.T`), or "all" when it is used whole. */
function namesReadOff(source: ts.SourceFile, alias: string, declaration: ts.Node): string[] | "all" {
  const names: string[] = []
  let whole = false
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && node.text === alias && node !== declaration) {
      const parent = node.parent
      if (ts.isPropertyAccessExpression(parent) && parent.expression === node) names.push(parent.name.text)
      else if (ts.isQualifiedName(parent) && parent.left === node) names.push(parent.right.text)
      else if (!(ts.isPropertyAccessExpression(parent) && parent.name === node) && !ts.isPropertyAssignment(parent))
        whole = true
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return whole ? "all" : names
}

/** Every (file, name) one file imports: `"all"` for a namespace used whole. */
function importsOfFile(source: ts.SourceFile, resolveFile: Resolver): { file: string; names: string[] | "all" }[] {
  const found: { file: string; names: string[] | "all" }[] = []
  const add = (specifier: ts.Expression | undefined, names: string[] | "all") => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return
    const file = resolveFile(source.fileName, specifier.text)
    if (file) found.push({ file, names })
  }
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause
      const names: string[] = []
      let all = false
      if (clause?.name) names.push("default")
      const bindings = clause?.namedBindings
      if (bindings && ts.isNamedImports(bindings))
        for (const element of bindings.elements) names.push((element.propertyName ?? element.name).text)
      if (bindings && ts.isNamespaceImport(bindings)) {
        const read = namesReadOff(source, bindings.name.text, bindings.name)
        if (read === "all") all = true
        else names.push(...read)
      }
      add(node.moduleSpecifier, all ? "all" : names)
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, "all")
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], dynamicNames(source, node))
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const qualifier = node.qualifier
      const first = qualifier ? (ts.isIdentifier(qualifier) ? qualifier : leftmost(qualifier)) : undefined
      add(node.argument.literal as ts.Expression, first ? [first.text] : "all")
    } else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "require" &&
      node.arguments.length === 1
    ) {
      add(node.arguments[0], "all")
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

function leftmost(name: ts.QualifiedName): ts.Identifier {
  return ts.isIdentifier(name.left) ? name.left : leftmost(name.left)
}

/** The names a dynamic `import(...)` is read with: destructured, read off, or held and read off. */
function dynamicNames(source: ts.SourceFile, call: ts.CallExpression): string[] | "all" {
  let node: ts.Node = call
  while (ts.isParenthesizedExpression(node.parent) || ts.isAwaitExpression(node.parent)) node = node.parent
  const parent = node.parent
  if (ts.isPropertyAccessExpression(parent) && parent.expression === node) return [parent.name.text]
  if (ts.isVariableDeclaration(parent) && parent.initializer === node) {
    if (ts.isObjectBindingPattern(parent.name)) {
      const names: string[] = []
      for (const element of parent.name.elements) {
        const key = element.propertyName ?? element.name
        if (element.dotDotDotToken || !ts.isIdentifier(key)) return "all"
        names.push(key.text)
      }
      return names
    }
    if (ts.isIdentifier(parent.name)) return namesReadOff(source, parent.name.text, parent.name)
  }
  return "all"
}

/** Every file of the repository that may import one of ours: sources, tests, bench, scripts, e2e, configs. */
function consumerFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO,
    encoding: "utf8",
  })
    .split("\0")
    .filter((file) => SCRIPT.test(file) && !file.endsWith(".d.ts"))
  return listed.map((file) => path.join(REPO, file)).filter((file) => existsSync(file))
}

/** Whether the file mentions `name` other than in its own declarations and export lists. */
function usedInOwnFile(source: ts.SourceFile, name: string): boolean {
  if (name === "default") return false
  let used = false
  const visit = (node: ts.Node) => {
    if (used) return
    if (ts.isIdentifier(node) && node.text === name) {
      const parent = node.parent
      const isDeclarationName =
        ((ts.isFunctionDeclaration(parent) ||
          ts.isClassDeclaration(parent) ||
          ts.isInterfaceDeclaration(parent) ||
          ts.isTypeAliasDeclaration(parent) ||
          ts.isEnumDeclaration(parent) ||
          ts.isVariableDeclaration(parent) ||
          ts.isBindingElement(parent)) &&
          parent.name === node &&
          (ts.isSourceFile(parent.parent) ||
            hasExport(parent) ||
            ts.isVariableDeclarationList(parent.parent) ||
            ts.isObjectBindingPattern(parent.parent))) ||
        ts.isExportSpecifier(parent) ||
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        (ts.isPropertySignature(parent) && parent.name === node) ||
        (ts.isPropertyDeclaration(parent) && parent.name === node) ||
        (ts.isMethodDeclaration(parent) && parent.name === node) ||
        (ts.isQualifiedName(parent) && parent.right === node)
      if (!isDeclarationName) used = true
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return used
}

/**
 * Every export of the two packages' sources that no other file imports. `kept` names exports
 * (`packages/…/file.ts name`) held for tools outside the repository: they and what they
 * re-export count as used.
 */
export function deadExports(
  consumers: string[] = consumerFiles(),
  read: (file: string) => ts.SourceFile = (file) => parse(file),
  kept: string[] = [],
): DeadExport[] {
  const sources = new Map(consumers.map((file) => [file, read(file)]))
  const resolveFile = resolverFor(new Set(consumers))
  const exportsByFile = new Map<string, ModuleExports>()
  const exportsOfFile = (file: string): ModuleExports => {
    let found = exportsByFile.get(file)
    if (!found) {
      const source = sources.get(file) ?? (existsSync(file) ? parse(file) : undefined)
      found = source ? exportsOf(source, resolveFile) : { own: new Map(), stars: [] }
      exportsByFile.set(file, found)
    }
    return found
  }
  const used = new Set<string>()
  const key = (file: string, name: string) => `${file}\0${name}`

  /** Marks `name` of `file` used, following re-exports to the file that declares it. */
  const mark = (file: string, name: string, seen = new Set<string>()) => {
    if (seen.has(key(file, name))) return
    seen.add(key(file, name))
    const exports = exportsOfFile(file)
    const own = exports.own.get(name)
    if (own) {
      used.add(key(file, name))
      if (own.from) {
        if (own.from.name === "*") markAll(own.from.file, seen)
        else mark(own.from.file, own.from.name, seen)
      }
      return
    }
    for (const star of exports.stars) mark(star, name, seen)
  }
  const markAll = (file: string, seen = new Set<string>()) => {
    for (const name of namesOf(file)) mark(file, name, seen)
  }
  const namesOf = (file: string, seen = new Set<string>()): string[] => {
    if (seen.has(file)) return []
    seen.add(file)
    const exports = exportsOfFile(file)
    return [...exports.own.keys(), ...exports.stars.flatMap((star) => namesOf(star, seen))]
  }

  // A name kept for tools outside the repository uses what it re-exports, as an import would.
  for (const entry of kept) {
    const [file, name] = entry.split(" ")
    mark(path.join(REPO, file!), name!)
  }
  for (const [file, source] of sources)
    for (const imported of importsOfFile(source, resolveFile)) {
      if (imported.file === file) continue
      if (imported.names === "all") markAll(imported.file)
      else for (const name of imported.names) mark(imported.file, name)
    }

  const checked = consumers.filter(
    (file) => (within(file, OPENCODE_SRC) || within(file, APP_SRC)) && !/\.test\.[a-z]+$/.test(file),
  )
  const dead: DeadExport[] = []
  for (const file of checked)
    for (const [name, { line }] of exportsOfFile(file).own)
      if (!used.has(key(file, name)))
        dead.push({ file, name, line, usedInFile: usedInOwnFile(sources.get(file)!, name) })
  return dead.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1))
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dead = deadExports()
  for (const entry of dead)
    console.log(`${where(entry.file, entry.line)} ${entry.name}${entry.usedInFile ? "" : "  (unused in its file too)"}`)
  console.log(`${dead.length} exports nothing imports`)
}
