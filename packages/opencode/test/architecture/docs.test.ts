/**
 * The project documents itself, and its documents stay true to the code:
 * - README's configuration table names every environment variable the code reads;
 * - every file path docs/architecture.md, docs/protocol.md, docs/api-shapes.md, README and
 *   SECURITY.md name exists;
 * - no file of the repository refers to a document the repository does not hold (a clone alone
 *   must explain the system).
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"
import ts from "typescript"
import { describe, expect, test } from "vitest"
import { OPENCODE_SRC, parse, REPO, sourceFiles, where } from "./source-graph.ts"

const readme = readFileSync(path.join(REPO, "README.md"), "utf8")

/** Names read as `process.env.NAME`, `env.NAME` or `env["NAME"]` (any object called env). */
function envNamesRead(file: string): { name: string; line: number }[] {
  const source = parse(file)
  const found: { name: string; line: number }[] = []
  const isEnv = (node: ts.Expression) =>
    (ts.isIdentifier(node) && node.text === "env") ||
    (ts.isPropertyAccessExpression(node) &&
      node.name.text === "env" &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "process")
  const visit = (node: ts.Node) => {
    let name: string | undefined
    if (ts.isPropertyAccessExpression(node) && isEnv(node.expression)) name = node.name.text
    else if (
      ts.isElementAccessExpression(node) &&
      isEnv(node.expression) &&
      ts.isStringLiteralLike(node.argumentExpression)
    )
      name = node.argumentExpression.text
    if (name && /^[A-Z][A-Z0-9_]+$/.test(name))
      found.push({ name, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 })
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** A document's section from its `## title` to the next. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}`)
  if (start < 0) throw new Error(`no section ${title}`)
  const end = text.indexOf("\n## ", start + 1)
  return text.slice(start, end < 0 ? undefined : end)
}

describe("the documents", () => {
  test("README's configuration table names every environment variable the server, the CLI and the desktop shell read", () => {
    const table = section(readme, "Configuration")
    const read = [...sourceFiles(OPENCODE_SRC), path.join(REPO, "packages/opencode/bin/opencode.mjs")].flatMap((file) =>
      envNamesRead(file).map((use) => ({ ...use, file })),
    )
    expect(read.length).toBeGreaterThan(10)
    const missing = read
      .filter((use) => !table.includes(`\`${use.name}\``))
      .map((use) => `${where(use.file, use.line)}: ${use.name}`)
    expect(missing).toEqual([])
  })

  test("every file path the documents name exists", () => {
    // Paths are relative to the repository, to packages/opencode/src/ (architecture.md says so), or to packages/opencode/test/ (tests).
    const bases = [
      REPO,
      OPENCODE_SRC,
      path.join(REPO, "packages/opencode/test"),
      path.join(REPO, "packages/opencode"),
      path.join(REPO, "docs"),
    ]
    const documents = ["README.md", "SECURITY.md", "docs/architecture.md", "docs/protocol.md", "docs/api-shapes.md"]
    const missing: string[] = []
    for (const document of documents) {
      const text = readFileSync(path.join(REPO, document), "utf8")
      const named = [
        ...text.matchAll(/`([A-Za-z0-9_./-]+\.(?:ts|tsx|mjs|cjs|json|md))`/g),
        ...text.matchAll(/\]\(([A-Za-z0-9_./-]+\.md)(?:#[^)]*)?\)/g),
      ].map((match) => match[1]!)
      // A bare `config.json` or `opencode.json` is a file the server reads at run time, not one of the repository's.
      const paths = [...new Set(named)].filter((name) => name.includes("/") || !name.endsWith(".json"))
      for (const name of paths)
        if (!bases.some((base) => existsSync(path.resolve(base, name)))) missing.push(`${document}: ${name}`)
    }
    expect(missing).toEqual([])
  })

  test("no file of the repository names a document the repository does not hold", () => {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO, encoding: "utf8" }).split("\0").filter(Boolean)
    const own = new Set(tracked.filter((file) => file.endsWith(".md")).map((file) => path.basename(file)))
    expect(own.has("README.md")).toBe(true)
    // Files a test writes into a scratch directory are not documents the repository names.
    const scratch = /docs\/\.github\/x\.md/
    const foreign: string[] = []
    for (const file of tracked) {
      if (file === "package-lock.json" || !/\.(?:md|ts|tsx|mjs|cjs|js|json|sh|html|css)$|^\.ci\//.test(file)) continue
      const lines = readFileSync(path.join(REPO, file), "utf8").split("\n")
      lines.forEach((line, index) => {
        for (const match of line.replace(scratch, "").matchAll(/[A-Za-z0-9_.\/-]*?([A-Za-z0-9_-]+\.md)\b/g)) {
          if (!own.has(match[1]!)) foreign.push(`${file}:${index + 1}: ${match[0]}`)
        }
        // A document's relative link climbing out of the repository (a sibling checkout's, say).
        if (file.endsWith(".md"))
          for (const match of line.matchAll(/(?:\.\.\/)+[A-Za-z0-9_.-]+/g)) {
            const resolved = path.resolve(path.dirname(path.join(REPO, file)), match[0])
            if (!resolved.startsWith(REPO + path.sep)) foreign.push(`${file}:${index + 1}: ${match[0]}`)
          }
      })
    }
    expect(foreign).toEqual([])
  })
})
