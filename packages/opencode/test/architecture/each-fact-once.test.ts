/**
 * Each fact once: a rule the server and the app share is declared in one module and imported
 * everywhere else, read from the syntax tree of every source file (server and app) and test.
 */
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"
import { APP_SRC, OPENCODE_SRC, parse, REPO, sourceFiles } from "./source-graph.ts"

const sources = [...sourceFiles(OPENCODE_SRC), ...sourceFiles(APP_SRC)]
const rel = (file: string) => path.relative(REPO, file)

/** Files that declare a function (or a const holding one) named `name`. */
function declarers(files: string[], name: string): string[] {
  return files
    .filter((file) => {
      let found = false
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionDeclaration(node) && node.name?.text === name) found = true
        else if (
          ts.isVariableDeclaration(node) &&
          ts.isIdentifier(node.name) &&
          node.name.text === name &&
          node.initializer &&
          (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer))
        )
          found = true
        else ts.forEachChild(node, visit)
      }
      visit(parse(file))
      return found
    })
    .map(rel)
}

/** Comparisons (`===`, `!==`) against the string literal `value`, as "file:line". */
function comparisonsWith(files: string[], value: string): string[] {
  return files.flatMap((file) => {
    const source = parse(file)
    const hits: string[] = []
    const visit = (node: ts.Node): void => {
      if (
        ts.isBinaryExpression(node) &&
        [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken].includes(
          node.operatorToken.kind,
        )
      ) {
        if ([node.left, node.right].some((side) => ts.isStringLiteral(side) && side.text === value))
          hits.push(`${rel(file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`)
      }
      ts.forEachChild(node, visit)
    }
    visit(source)
    return hits
  })
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return testFiles(full)
    return /\.ts$/.test(entry.name) ? [full] : []
  })
}

describe("each fact once", () => {
  it.each([
    ["unique", "packages/opencode/src/provenance/unique.ts"],
    ["decideStop", "packages/opencode/src/provenance/classification.ts"],
    ["reopens", "packages/opencode/src/project/instance.ts"],
    ["isReopening", "packages/opencode/src/project/instance.ts"],
    ["scrubSecrets", "packages/opencode/src/provenance/secret-rules.ts"],
    ["publicSession", "packages/opencode/src/session/session-store.ts"],
  ])("%s is declared in %s only", (name, home) => {
    expect(declarers(sources, name)).toEqual([home])
  })

  it("only reopens() asks whether an operation reopens its instance", () => {
    // classification.ts leaves load_reload out of the reverse table: a different fact.
    expect(
      comparisonsWith(sources, "load_reload").filter(
        (hit) => !hit.startsWith("packages/opencode/src/provenance/classification.ts"),
      ),
    ).toEqual([expect.stringMatching(/^packages\/opencode\/src\/project\/instance\.ts:/)])
  })

  it("the lingering git wrapper the tests put on PATH is written in one helper", () => {
    const wrapper = ["if [", '"$1" = init ]'].join(" ")
    const writers = testFiles(path.join(REPO, "packages/opencode/test")).filter((file) =>
      readFileSync(file, "utf8").includes(wrapper),
    )
    expect(writers.map(rel)).toEqual(["packages/opencode/test/spine/spine-helpers.ts"])
  })
})
