/**
 * The test runner's configuration names only what exists: each `include` pattern of each
 * package's vitest config matches at least one file the repository holds. A pattern for a folder
 * nobody uses tells a reader that tests live there, and a test put there by mistake still runs.
 */
import { execFileSync } from "node:child_process"
import path from "node:path"
import ts from "typescript"
import { expect, test } from "vitest"
import { parse, REPO } from "./source-graph.ts"

/** The string literals of every `include: [...]` in a config file. */
function includePatterns(file: string): string[] {
  const patterns: string[] = []
  const visit = (node: ts.Node) => {
    if (
      ts.isPropertyAssignment(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === "include" &&
      ts.isArrayLiteralExpression(node.initializer)
    ) {
      for (const element of node.initializer.elements) if (ts.isStringLiteralLike(element)) patterns.push(element.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(parse(file))
  return patterns
}

test("every include pattern of every package's vitest config matches a file", () => {
  const tracked = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO,
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean)
  const configs = tracked.filter((file) => /^packages\/[^/]+\/vitest\.config\.ts$/.test(file))
  expect(configs.length).toBeGreaterThanOrEqual(2)
  const unmatched: string[] = []
  for (const config of configs) {
    const root = path.dirname(config)
    const files = tracked.filter((file) => file.startsWith(`${root}/`)).map((file) => file.slice(root.length + 1))
    const patterns = includePatterns(path.join(REPO, config))
    expect(patterns.length, config).toBeGreaterThan(0)
    for (const pattern of patterns)
      if (!files.some((file) => path.matchesGlob(file, pattern))) unmatched.push(`${config}: ${pattern}`)
  }
  expect(unmatched).toEqual([])
})
