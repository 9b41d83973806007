/**
 * Who changed the config, worded once from the origin's own facts (its request ref, the request's
 * client kind, `writtenByRoute`) and told the same way by the headline, the event history and the
 * waterfall. A request *record* no longer in the export never turns a save into an outside edit.
 * And the timeline draws every gap the chain names, whatever the origin's kind.
 */
import { readExport } from "opencode/provenance/export-reader"
import { LifecycleAction, type Origin, RequestContext, RunSummary } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { ROW_ID } from "../src/diagnostics/history-source.ts"
import { configChangeClause, eventHistory, headlineWords } from "../src/diagnostics/story.ts"
import { buildWaterfall } from "../src/diagnostics/waterfall.ts"
import { SESSION, T0 } from "./fixtures.ts"

const APP_SAVE = {
  requestId: "req_cfg1",
  route: "/config",
  method: "PATCH",
  clientKind: "app" as const,
  actionHeader: "present" as const,
  actionId: "act_save1",
  actionName: "config.save",
}
const PLAIN_SAVE = {
  requestId: "req_cfg1",
  route: "/config",
  method: "PATCH",
  clientKind: "plain" as const,
  actionHeader: "absent" as const,
}

function story(origin: Origin, opts: { keepRequestRecord?: boolean; own?: boolean; operation?: string } = {}) {
  const operation = opts.operation ?? "dispose_directory"
  const action = LifecycleAction.parse({
    lifecycleId: "lc_one",
    seq: 3,
    operation,
    rootOperation: operation,
    rootId: "lc_one",
    origin,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: [{ instanceId: "ins_a", generation: 1 }],
    runIds: ["run_one"],
    startedAt: T0 + 3_500,
    finishedAt: T0 + 4_100,
  })
  const summary = RunSummary.parse({
    runId: "run_one",
    sessionId: SESSION,
    seq: 5,
    instance: { instanceId: "ins_a", generation: 1 },
    model: "scripted/slow",
    startedAt: T0,
    finishedAt: T0 + 4_000,
    classification: `local_instance_${operation === "load_reload" ? "reload" : operation}`,
    interrupt: {
      kind: "lifecycle",
      seq: 4,
      at: T0 + 3_600,
      runId: "run_one",
      sessionId: SESSION,
      lifecycle: { lifecycleId: "lc_one", operation, rootOperation: operation, rootId: "lc_one", origin },
      phase: "provider_streaming",
      provider: { chunks: 4, progress: true },
      watchdog: { fired: false },
      toolExecutionStarted: false,
    },
    provider: { chunks: 4, progress: true, firstOutputAt: T0 + 200, lastOutputAt: T0 + 3_000 },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
  })
  const ref = "request" in origin ? origin.request : undefined
  const requests =
    ref && opts.keepRequestRecord
      ? [RequestContext.parse({ ...ref, seq: 2, time: T0 + 3_450, status: 200, durationMs: 40 })]
      : []
  const doc = {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: { runs: [summary], lifecycle: [action], requests, renderer: [], crashes: [], truncated: {} },
    incidents: [],
  }
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const data = exportData(doc)
  const chain = read.incidents[0]!
  const context = { isOwnAction: (id: string | undefined) => opts.own === true && id === "act_save1" }
  const model = buildWaterfall(chain, data.records, context)
  return {
    chain,
    headline: headlineWords(chain, data.records, context),
    history: eventHistory(chain, data.records, context).map((item) => item.words),
    rows: model.rows,
    names: model.rows.map((row) => row.name),
  }
}

function configOrigin(extra: { request?: typeof APP_SAVE | typeof PLAIN_SAVE; writtenByRoute?: boolean }): Origin {
  const lost = extra.writtenByRoute && !extra.request
  return {
    kind: "config_invalidation",
    scope: "project",
    fileKey: "abcdef0123456789",
    change: "modified",
    ...extra,
    provenance: lost ? { complete: false, missing: ["request"] } : { complete: true, missing: [] },
  }
}

const FILE = "the project's opencode.json"
const cap = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

describe("a config change is worded by the origin's facts, the same in the headline, history and waterfall", () => {
  const cases: {
    name: string
    origin: Origin
    own?: boolean
    clause: string
    never: RegExp
  }[] = [
    {
      name: "Save config in this app",
      origin: configOrigin({ request: APP_SAVE, writtenByRoute: true }),
      own: true,
      clause: `you saved ${FILE} (Save config)`,
      never: /on disk|outside the app|another program|not recorded/,
    },
    {
      name: "Save config in another app window",
      origin: configOrigin({ request: APP_SAVE, writtenByRoute: true }),
      clause: `${FILE} was saved from the app`,
      never: /on disk|outside the app|another program|not recorded/,
    },
    {
      name: "a PATCH /config from another program",
      origin: configOrigin({ request: PLAIN_SAVE, writtenByRoute: true }),
      clause: `${FILE} was saved through the server by another program (not this app)`,
      never: /on disk|outside the app|from the app|you saved|not recorded/,
    },
    {
      name: "a save through the server whose request was lost",
      origin: configOrigin({ writtenByRoute: true }),
      clause: `${FILE} was saved through the server, but the request was not recorded`,
      never: /on disk|outside the app|from the app|you saved|another program/,
    },
    {
      name: "an edit on disk",
      origin: configOrigin({}),
      clause: `${FILE} was edited outside the app`,
      never: /saved|from the app|another program/,
    },
  ]
  for (const c of cases) {
    for (const keepRequestRecord of [true, false]) {
      it(`${c.name} (request row ${keepRequestRecord ? "kept" : "no longer in the export"})`, () => {
        const s = story(c.origin, { keepRequestRecord, own: c.own })
        expect(
          configChangeClause(c.origin as Extract<Origin, { kind: "config_invalidation" }>, () => c.own === true),
        ).toBe(c.clause)
        expect(s.headline).toContain(`Stopped: ${c.clause} at `)
        expect(
          s.history.some((words) => words.startsWith(cap(c.clause))),
          s.history.join(" | "),
        ).toBe(true)
        expect(s.names).toContain(cap(c.clause))
        for (const text of [s.headline, ...s.history, ...s.names]) expect(text).not.toMatch(c.never)
      })
    }
  }

  it("a deleted file edited on disk is deleted outside the app, in all three", () => {
    const origin = { ...configOrigin({}), change: "deleted" } as Origin
    const s = story(origin)
    expect(s.headline).toContain(`${FILE} was deleted outside the app`)
    expect(s.history.join(" | ")).toContain(`${cap(FILE)} was deleted outside the app; project close started`)
    expect(s.names).toContain(`${cap(FILE)} was deleted outside the app`)
  })
})

describe("the timeline draws every gap the chain names", () => {
  const gaps: { name: string; origin: Origin; operation?: string }[] = [
    { name: "a config save whose request was lost", origin: configOrigin({ writtenByRoute: true }) },
    {
      name: "an api_route with no request",
      origin: { kind: "api_route", provenance: { complete: false, missing: ["request"] } },
      operation: "reload",
    },
    {
      name: "a context mismatch noticed during a request that was not recorded",
      origin: {
        kind: "context_mismatch",
        reason: "config_digest_mismatch",
        before: "abcdef01",
        after: "12345678",
        provenance: { complete: false, missing: ["detected_during"] },
      },
      operation: "load_reload",
    },
  ]
  for (const g of gaps) {
    it(g.name, () => {
      const s = story(g.origin, { operation: g.operation })
      expect(s.chain.missing.length).toBeGreaterThan(0)
      for (const field of s.chain.missing) {
        const rows = s.rows.filter((row) => row.id === ROW_ID.missing(field))
        expect(rows, `${field} in ${s.names.join(" | ")}`).toHaveLength(1)
        expect(rows[0]!.kind).toBe("missing")
      }
    })
  }

  it("the lost request of a config save is drawn before the change it wrote, not as an outside edit", () => {
    const s = story(configOrigin({ writtenByRoute: true }))
    expect(s.chain.verdict).toBe("partially_diagnosed")
    const gap = s.rows.findIndex((row) => row.id === ROW_ID.missing("origin.request"))
    const change = s.rows.findIndex((row) => row.id === ROW_ID.configChange)
    expect(gap).toBeGreaterThanOrEqual(0)
    expect(gap).toBeLessThan(change)
    expect(s.names[gap]).toBe("Not recorded: the request that asked for it")
  })
})
