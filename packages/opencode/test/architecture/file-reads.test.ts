/**
 * Every file the server and the CLI read goes through `src/regular-file.ts`, which opens without
 * blocking and refuses anything but a regular file of a bounded size: a named pipe put where a
 * config or an export was expected must never freeze the process. Checked on the syntax tree:
 * no other file imports a reading function of node:fs, and the few that open files say why.
 */
import path from "node:path"
import ts from "typescript"
import { expect, test } from "vitest"
import { OPENCODE_SRC, parse, sourceFiles, where } from "./source-graph.ts"

/** node:fs names that read a file, or open one (a read can follow). */
const READING = new Set([
  "readFileSync",
  "readFile",
  "createReadStream",
  "readSync",
  "read",
  "openSync",
  "open",
  "openAsBlob",
])

/** Files allowed to open or read themselves, and why. */
const ALLOWED: Record<string, string> = {
  "regular-file.ts": "the one reader",
  "tool/project-path.ts": "the tools' own non-blocking open, refusing non-regular files with a tool error",
  "storage/database.ts": "openSync(file, 'wx') creates an empty owner-only file; it reads nothing",
  "cli/export.ts": "opens the export's output file to write it as it is read (owner-only, 'wx'); it reads nothing",
  "server/middleware/same-user.ts":
    "reads the kernel's socket tables (/proc/net/tcp, tcp6): no path a user or project controls, and procfs reports them as empty files",
}

test("no file but src/regular-file.ts reads a file with node:fs (and the few that open one are listed with why)", () => {
  const found: string[] = []
  for (const file of sourceFiles(OPENCODE_SRC)) {
    const relative = path.relative(OPENCODE_SRC, file).split(path.sep).join("/")
    if (relative in ALLOWED) continue
    const source = parse(file)
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
      const specifier = statement.moduleSpecifier.text
      if (!/^(node:)?fs(\/promises)?$/.test(specifier)) continue
      const bindings = statement.importClause?.namedBindings
      const line = source.getLineAndCharacterOfPosition(statement.getStart()).line + 1
      // A default or namespace import (`import fs from "node:fs"`) reaches every reader.
      if (statement.importClause?.name || (bindings && ts.isNamespaceImport(bindings))) {
        const uses: string[] = []
        const alias =
          statement.importClause?.name?.text ?? (bindings && ts.isNamespaceImport(bindings) ? bindings.name.text : "")
        const visit = (node: ts.Node) => {
          if (
            ts.isPropertyAccessExpression(node) &&
            ts.isIdentifier(node.expression) &&
            node.expression.text === alias &&
            READING.has(node.name.text)
          )
            uses.push(node.name.text)
          ts.forEachChild(node, visit)
        }
        visit(source)
        for (const name of uses) found.push(`${where(file, line)} uses ${alias}.${name}`)
      }
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) {
          const name = (element.propertyName ?? element.name).text
          if (READING.has(name)) found.push(`${where(file, line)} imports ${name} from ${specifier}`)
        }
      }
    }
  }
  expect(found, "read files through readRegularFile / readRegularFileSync (src/regular-file.ts)").toEqual([])
})
