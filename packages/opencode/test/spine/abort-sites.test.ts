/**
 * Static guard (docs/architecture.md, "Mechanisms that close each known loophole"): nothing
 * outside an allow-list may abort a controller or call the close primitive. Sites are read from
 * the TypeScript syntax tree, not from lines. Each allowed site names the test that interrupts a
 * real run through it; a new site fails here until it is reviewed, listed, and covered.
 */
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { expect, test } from "vitest"
import { OPENCODE_SRC, parse, sourceFiles } from "../architecture/source-graph.ts"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SRC = OPENCODE_SRC

interface Site {
  file: string
  /** The call as written, white space folded (`this.controller.abort(meta)`), or `method NAME` for a definition. */
  code: string
  why: string
  /** Test files (relative to test/) that interrupt a real run through this site. */
  coveredBy: string[]
  /** A controller of something other than a run. */
  notARun?: boolean
}

const ALLOWED: Site[] = [
  {
    file: "session/run-state.ts",
    code: "this.controller.abort(meta)",
    why: "the run controller itself: abort(InterruptMeta)",
    coveredBy: ["spine/lifecycle-routes.test.ts", "spine/user-stops.test.ts"],
  },
  {
    file: "project/instance-store.ts",
    code: "this.closer.closeInstance(still, action, { reopen: reopens(action.operation) })",
    why: "load → load_reload on a context mismatch",
    coveredBy: ["spine/context-mismatch.test.ts"],
  },
  {
    file: "project/instance-store.ts",
    code: "this.closer.closeInstance(target, action, { reopen: reopens(operation) })",
    why: "reload, dispose, dispose_directory, dispose_all children",
    coveredBy: [
      "spine/lifecycle-routes.test.ts",
      "spine/config-invalidation.test.ts",
      "spine/races.test.ts",
      "spine/process-exit.test.ts",
    ],
  },
  {
    file: "project/close-primitive.ts",
    code: "method closeInstance",
    why: "the close primitive's definition",
    coveredBy: ["spine/lifecycle-routes.test.ts"],
  },
  {
    file: "project/close-primitive.ts",
    code: "run.abort(request)",
    why: "step 3 of the close primitive, a request just after a close (kept as late), and the user's cancel (through the store's cancel)",
    coveredBy: [
      "spine/lifecycle-routes.test.ts",
      "spine/races.test.ts",
      "spine/close-order.test.ts",
      "spine/user-stops.test.ts",
      "spine/late-cancel.test.ts",
    ],
  },
  {
    file: "project/instance-store.ts",
    code: 'run.state.abort({ kind: "echo", originKind, operation })',
    why: "a change another action handles: recorded, never a cause",
    coveredBy: ["spine/context-mismatch.test.ts", "spine/config-invalidation.test.ts"],
  },
  {
    file: "session/processor.ts",
    code: 'this.run.abort({ kind: "watchdog" })',
    why: "the watchdog",
    coveredBy: ["spine/user-stops.test.ts"],
  },
  // Not run controllers (no run can be stopped through them): allowed, not required to exist.
  {
    file: "server/remote-run-watch.ts",
    code: "this.controller.abort()",
    why: "its own fetch of a remote /event stream, not a run's controller",
    coveredBy: [],
    notARun: true,
  },
  {
    file: "server/routes/session.ts",
    code: "writer.abort(err)",
    why: "errors a streamed answer's body after a read fault (an in-process reader), not a run",
    coveredBy: [],
    notARun: true,
  },
  {
    file: "server/routes/event.ts",
    code: "stream.abort()",
    why: "cuts off an SSE client that stopped reading, not a run",
    coveredBy: [],
    notARun: true,
  },
]

/** Names whose every call, reference or definition is a site. */
const NAMES = new Set(["abort", "closeInstance", "closeScopeDirectly"])

interface Found {
  file: string
  line: number
  code: string
}

/**
 * Every call of `.abort(...)`, `closeInstance(...)` or `closeScopeDirectly(...)` in src, every
 * other reference to them (`const stop = controller.abort`), and their method definitions, from
 * the syntax tree: comments and strings are not sites, a call split over lines is one site.
 */
function findSites(): Found[] {
  return sourceFiles(SRC).flatMap((full) => sitesIn(path.relative(SRC, full).split(path.sep).join("/"), parse(full)))
}

function sitesIn(file: string, source: ts.SourceFile): Found[] {
  const found: Found[] = []
  const add = (node: ts.Node, code: string) =>
    found.push({ file, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, code })
  const folded = (node: ts.Node) =>
    node.getText(source).replace(/\s+/g, " ").replace(/ \./g, ".").replace(/\( /g, "(").replace(/,? \)/g, ")")
  const visit = (node: ts.Node): void => {
    if (
      (ts.isMethodDeclaration(node) || ts.isFunctionDeclaration(node)) &&
      node.name &&
      ts.isIdentifier(node.name) &&
      NAMES.has(node.name.text) &&
      node.name.text !== "abort"
    ) {
      add(node, `method ${node.name.text}`)
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression
      const name = ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : ts.isIdentifier(callee)
          ? callee.text
          : undefined
      if (name && NAMES.has(name)) {
        add(node, folded(node))
        // The callee is this site; its arguments may hold more.
        return node.arguments.forEach(visit)
      }
    } else if (ts.isPropertyAccessExpression(node) && NAMES.has(node.name.text)) {
      add(node, `reference ${folded(node)}`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

test("every abort / close-primitive call site is allow-listed", () => {
  const found = findSites()
  const unlisted = found.filter(
    (site) => !ALLOWED.some((allowed) => allowed.file === site.file && site.code === allowed.code),
  )
  expect(
    unlisted.map((s) => `${s.file}:${s.line}: ${s.code}`),
    "unreviewed abort/close sites",
  ).toEqual([])
})

test("every allow-listed site still exists and names a test that exists", () => {
  const found = findSites()
  for (const site of ALLOWED) {
    if (site.notARun) continue
    expect(
      found.some((f) => f.file === site.file && f.code === site.code),
      `stale allow-list entry ${site.file}: ${site.code}`,
    ).toBe(true)
    for (const test of site.coveredBy)
      expect(existsSync(path.resolve(HERE, "..", test)), `${site.file} is covered by ${test}`).toBe(true)
  }
  // Every site that can stop a run (all but other controllers) has an interrupt test.
  for (const site of ALLOWED.filter((s) => !s.notARun)) expect(site.coveredBy.length, site.code).toBeGreaterThan(0)
})

test("sites are read from the syntax tree: a call over several lines is one site, comments and strings are none", () => {
  const text = [
    "// this.controller.abort(meta) in a comment",
    'const s = "run.abort()"',
    "this.controller",
    "  .abort(",
    "    meta,",
    "  )",
    "const stop = this.controller.abort",
    "class X { private closeInstance() {} }",
  ].join("\n")
  const sites = sitesIn("virtual.ts", parse(path.join(SRC, "virtual.ts"), text))
  expect(sites.map((site) => [site.line, site.code])).toEqual([
    [3, "this.controller.abort(meta)"],
    [7, "reference this.controller.abort"],
    [8, "method closeInstance"],
  ])
})
