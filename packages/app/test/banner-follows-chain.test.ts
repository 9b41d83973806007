/**
 * The banner tells the chain's story. With a chain it reads the chain's classification, origin,
 * verdict and missing fields (never the run row's classification); before the chain arrives it
 * reads the run summary the way the chain's derivation does, so for the same records the two
 * banners are the same words, and neither ever looks more diagnosed than the chain.
 */
import { withProvenance } from "opencode/provenance"
import { readExport } from "opencode/provenance/export-reader"
import {
  ClientAction,
  type IncidentChain,
  type InterruptMeta,
  LifecycleAction,
  type LifecycleOperation,
  type Origin,
  type OriginInput,
  RequestContext,
  type RequestRef,
  RunSummary,
} from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { exportFor, SESSION, T0 } from "./fixtures.ts"

const OWN = "act_mine1"
const mine = (id: string | undefined) => id === OWN
const nobody = () => false

const ref = (over: Partial<RequestRef> & Pick<RequestRef, "route">): RequestRef => ({
  requestId: "req_one",
  method: "POST",
  clientKind: "app",
  actionHeader: "present",
  ...over,
})

const interruptBase = {
  seq: 4,
  at: T0 + 3_600,
  runId: "run_one",
  sessionId: SESSION,
  phase: "provider_streaming" as const,
  provider: { chunks: 4, progress: true },
  watchdog: { fired: false },
  toolExecutionStarted: false,
}

function summaryOf(over: Partial<RunSummary> & Pick<RunSummary, "classification">): RunSummary {
  return RunSummary.parse({
    runId: "run_one",
    sessionId: SESSION,
    seq: 9,
    instance: { instanceId: "ins_a", generation: 1 },
    model: "scripted/slow",
    startedAt: T0,
    finishedAt: T0 + 4_000,
    provider: { chunks: 4, progress: true, firstOutputAt: T0 + 200, lastOutputAt: T0 + 3_000 },
    watchdog: { fired: false },
    visibleOutput: true,
    tools: [],
    toolFactsRecorded: true,
    retry: { safe: true, basis: ["no_side_effects", "visible_output_seen"] },
    ...over,
  })
}

/** The export holding every record the run's chain joins: its request and click, its actions, its summary. */
function exportOf(summary: RunSummary, lifecycle: LifecycleAction[] = [], request?: RequestRef) {
  const requests = request ? [RequestContext.parse({ ...request, seq: 2, time: T0 + 3_450, status: 200 })] : []
  const renderer =
    request?.actionId && request.actionName
      ? [
          ClientAction.parse({
            actionId: request.actionId,
            name: request.actionName,
            page: "/session/:id",
            time: T0 + 3_400,
            requestIds: [request.requestId],
            outcome: "ok",
          }),
        ]
      : []
  return {
    schema: "opencode.session-export",
    version: 2,
    exportedAt: T0 + 70_000,
    writer: { name: "opencode", version: "0.1.0" },
    session: { id: SESSION, directory: { digest: "abcdef0123456789", depth: 3 } },
    messages: [],
    diagnostics: { runs: [summary], lifecycle, requests, renderer, crashes: [], truncated: {} },
    incidents: [],
  }
}

function chainOf(doc: ReturnType<typeof exportOf>): IncidentChain {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  return read.incidents.find((chain) => chain.runId === "run_one")!
}

const CLASSIFICATION = {
  reload: "local_instance_reload",
  dispose: "local_instance_dispose",
  dispose_directory: "local_instance_dispose_directory",
  dispose_all: "local_instance_dispose_all",
} as const

/** A run closed by `operation` with `origin`: its actions (a dispose-all with its child), and its summary. */
function closed(operation: Exclude<LifecycleOperation, "load_reload">, origin: Origin) {
  const root = LifecycleAction.parse({
    lifecycleId: "lc_root1",
    seq: 3,
    operation,
    rootOperation: operation,
    rootId: "lc_root1",
    origin,
    directoryKeys: ["dirkey"],
    directoryCount: 1,
    instances: operation === "dispose_all" ? [] : [{ instanceId: "ins_a", generation: 1 }],
    runIds: operation === "dispose_all" ? [] : ["run_one"],
    startedAt: T0 + 3_500,
    finishedAt: T0 + 4_100,
  })
  const child =
    operation === "dispose_all"
      ? LifecycleAction.parse({
          lifecycleId: "lc_child1",
          seq: 4,
          operation: "dispose_directory",
          rootOperation: "dispose_all",
          rootId: "lc_root1",
          parentId: "lc_root1",
          origin,
          directoryKeys: ["dirkey"],
          directoryCount: 1,
          instances: [{ instanceId: "ins_a", generation: 1 }],
          runIds: ["run_one"],
          startedAt: T0 + 3_501,
          finishedAt: T0 + 4_100,
        })
      : undefined
  const closer = child ?? root
  const summary = summaryOf({
    classification: CLASSIFICATION[operation],
    interrupt: {
      ...interruptBase,
      kind: "lifecycle",
      lifecycle: {
        lifecycleId: closer.lifecycleId,
        operation: closer.operation,
        rootOperation: operation,
        rootId: root.lifecycleId,
        origin,
        ...(closer.parentId ? { parentId: closer.parentId } : {}),
      },
    },
  })
  const request = "request" in origin ? origin.request : "detectedDuring" in origin ? origin.detectedDuring : undefined
  return { summary, doc: exportOf(summary, child ? [root, child] : [root], request) }
}

const reloadRef = (over: Partial<RequestRef> = {}) => ref({ route: "/instance/reload", ...over })
const ORIGINS: { label: string; origin: OriginInput }[] = [
  {
    label: "own click",
    origin: { kind: "api_route", request: reloadRef({ actionId: OWN, actionName: "instance.reload" }) },
  },
  {
    label: "another window's click",
    origin: { kind: "api_route", request: reloadRef({ actionId: "act_other1", actionName: "instance.reload" }) },
  },
  { label: "the app, no action", origin: { kind: "api_route", request: reloadRef({ actionHeader: "absent" }) } },
  {
    label: "a plain client",
    origin: { kind: "api_route", request: reloadRef({ clientKind: "plain", actionHeader: "absent" }) },
  },
  { label: "no request", origin: { kind: "api_route" } },
  {
    label: "own config save",
    origin: {
      kind: "config_invalidation",
      scope: "project",
      fileKey: "abcdef0123456789",
      change: "modified",
      writtenByRoute: true,
      request: ref({ route: "/config", method: "PATCH", actionId: OWN, actionName: "config.save" }),
    },
  },
  {
    label: "config save, request lost",
    origin: {
      kind: "config_invalidation",
      scope: "project",
      fileKey: "abcdef0123456789",
      change: "modified",
      writtenByRoute: true,
    },
  },
  {
    label: "config edited outside",
    origin: { kind: "config_invalidation", scope: "global", fileKey: "abcdef0123456789", change: "deleted" },
  },
  { label: "config change, nothing recorded", origin: { kind: "config_invalidation" } },
  { label: "shutdown", origin: { kind: "shutdown", signal: "SIGTERM" } },
  { label: "shutdown, uncaught", origin: { kind: "shutdown", signal: "uncaught_exception" } },
  { label: "shutdown, no signal", origin: { kind: "shutdown" } },
  { label: "directory removed", origin: { kind: "server_handler", handler: "directory_watch" } },
]

describe("the banner before the chain arrives says what the chain will say", () => {
  for (const operation of ["reload", "dispose_directory", "dispose_all"] as const)
    for (const { label, origin } of ORIGINS)
      it(`${operation} by ${label}`, () => {
        const { summary, doc } = closed(operation, withProvenance(origin))
        const chain = chainOf(doc)
        for (const isOwnAction of [mine, nobody]) {
          const withChain = bannerText({
            classification: summary.classification,
            summary,
            incident: chain,
            isOwnAction,
          })
          const summaryOnly = bannerText({ classification: summary.classification, summary, isOwnAction })
          expect(summaryOnly).toBe(withChain)
          // Never looks diagnosed when it is not.
          if (chain.verdict !== "diagnosed") expect(withChain).toMatch(/partially diagnosed|cause unknown/)
          expect(withChain).not.toMatch(/\borigin\b|_/)
          // "you" only for this tab's own click.
          if (isOwnAction === mine && label.startsWith("own")) expect(withChain).toMatch(/\byou\b/)
          else expect(withChain).not.toMatch(/\byou\b/)
        }
      })
})

describe("cancels: worded by what is recorded, never more", () => {
  const cancel = (request: RequestRef | undefined) => {
    const summary = summaryOf({
      classification: "user_cancelled",
      interrupt: { ...interruptBase, kind: "user_cancel", ...(request ? { request } : {}) } as InterruptMeta,
    })
    const chain = chainOf(exportOf(summary, [], request))
    const words = (isOwnAction: (id: string | undefined) => boolean) => {
      const withChain = bannerText({ classification: "user_cancelled", summary, incident: chain, isOwnAction })
      expect(bannerText({ classification: "user_cancelled", summary, isOwnAction })).toBe(withChain)
      return withChain
    }
    return { chain, words }
  }
  const abortRef = (over: Partial<RequestRef> = {}) => ref({ route: "/session/:id/abort", ...over })

  it("an app cancel with no action id names the gap, not another window", () => {
    const { chain, words } = cancel(abortRef({ actionHeader: "absent" }))
    expect(chain.verdict).toBe("partially_diagnosed")
    expect(words(nobody)).toBe(
      "This run was stopped from the app without a recorded action (POST /session/:id/abort); partially diagnosed, missing which app button was clicked.",
    )
  })

  it("another window's Stop is said as such; the user's own Stop as theirs", () => {
    const { words } = cancel(abortRef({ actionId: OWN, actionName: "session.abort" }))
    expect(words(nobody)).toBe("This run was stopped from another app window (Stop).")
    expect(words(mine)).toBe("This run was stopped by you (Stop).")
  })

  it("a cancel whose request was not recorded names it missing", () => {
    const { chain, words } = cancel(undefined)
    expect(chain.missing).toContain("origin.request")
    expect(words(nobody)).toContain("partially diagnosed, missing the request that asked for it")
  })

  it("a plain client's cancel is another client's", () => {
    const { words } = cancel(abortRef({ clientKind: "plain", actionHeader: "absent" }))
    expect(words(nobody)).toBe("This run was cancelled by another client (POST /session/:id/abort).")
  })
})

describe("the chain, not the run row, decides", () => {
  it("a settle-timeout placeholder reads as the reload that stopped it, with and without the chain", () => {
    const doc = exportFor("diagnosed")
    const summary = RunSummary.parse({
      ...doc.diagnostics.runs[0]!,
      classification: "unknown_interrupt",
      missing: ["run_summary"],
      closeSite: "settle_timeout",
    })
    doc.diagnostics.runs[0] = summary
    const read = readExport(doc)
    if (!read.ok) throw new Error(read.error)
    const chain = read.incidents[0]!
    const own = (id: string | undefined) => id === "act_reload1"
    const expected =
      "This run was stopped by a project reload you requested (Reload project); partially diagnosed, missing the record of how the run ended."
    expect(bannerText({ classification: summary.classification, summary, incident: chain, isOwnAction: own })).toBe(
      expected,
    )
    expect(bannerText({ classification: summary.classification, summary, isOwnAction: own })).toBe(expected)
  })

  it("a chain that names a close overrides a crash-scan row; the row alone never claims 'not a close'", () => {
    const summary = summaryOf({
      classification: "process_exit_without_finalizer",
      closeSite: "process_exit_without_finalizer",
      missing: ["run_summary"],
    })
    const alone = bannerText({ classification: summary.classification, summary, isOwnAction: nobody })
    expect(alone).not.toContain("not a project reload or close")
    expect(alone).not.toMatch(/stopped by/)
    expect(alone).toContain("server process ended")
  })

  it("a crash chain without a journalled close is still called crash evidence", () => {
    const read = readExport(exportFor("crash_evidence"))
    if (!read.ok) throw new Error(read.error)
    const chain = read.incidents[0]!
    // Even when the row passed beside it says otherwise.
    expect(bannerText({ classification: "local_instance_reload", incident: chain, isOwnAction: nobody })).toContain(
      "crash evidence, not a project reload or close",
    )
  })

  it("a remote run this server stopped following at its shutdown is not blamed on the remote", () => {
    const summary = summaryOf({
      classification: "remote_interrupted",
      interrupt: {
        ...interruptBase,
        kind: "remote",
        workspaceId: "ws_remote",
        localStop: { kind: "shutdown", signal: "SIGINT", provenance: { complete: true, missing: [] } },
      },
    })
    const chain = chainOf(exportOf(summary))
    expect(chain.origin.kind).toBe("shutdown")
    const withChain = bannerText({
      classification: summary.classification,
      summary,
      incident: chain,
      isOwnAction: nobody,
    })
    expect(withChain).toContain("because it shut down (Ctrl-C)")
    expect(withChain).not.toContain("interrupted by the remote workspace")
    expect(bannerText({ classification: summary.classification, summary, isOwnAction: nobody })).toBe(withChain)
  })

  it("a chain partially diagnosed with no missing name (an old writer's) still says so", () => {
    const read = readExport(exportFor("diagnosed"))
    if (!read.ok) throw new Error(read.error)
    const chain: IncidentChain = {
      ...read.incidents[0]!,
      verdict: "partially_diagnosed",
      missing: [],
      notRecorded: ["renderer_action"],
    }
    expect(bannerText({ classification: chain.classification, incident: chain, isOwnAction: nobody })).toContain(
      "partially diagnosed: the file's writer could not record which app button was clicked",
    )
    const bare: IncidentChain = { ...chain, notRecorded: undefined }
    expect(bannerText({ classification: chain.classification, incident: bare, isOwnAction: nobody })).toMatch(
      /; partially diagnosed\.$/,
    )
  })

  it("a config saved through the server with its request lost reads as the panel reads it", () => {
    const { summary, doc } = closed(
      "dispose_directory",
      withProvenance({
        kind: "config_invalidation",
        scope: "project",
        fileKey: "abcdef0123456789",
        change: "modified",
        writtenByRoute: true,
      }),
    )
    const chain = chainOf(doc)
    expect(bannerText({ classification: summary.classification, summary, incident: chain, isOwnAction: nobody })).toBe(
      "This run was stopped by a project close after the project's opencode.json was saved through the server, but the request was not recorded; partially diagnosed, missing the request that asked for it.",
    )
  })
})

describe("a summary that names no lifecycle action reads as the chain derived from it alone", () => {
  const STOPS = [
    "local_instance_reload",
    "local_instance_dispose_directory",
    "local_instance_dispose_all",
    "unknown_interrupt",
    "user_cancelled",
    "watchdog_timeout",
    "provider_error",
    "tool_error",
  ] as const
  for (const classification of STOPS)
    for (const missing of [[], ["interrupt_meta"], ["request_context", "interrupt_meta"]])
      it(`${classification}, missing [${missing.join(", ")}]`, () => {
        const summary = summaryOf({
          classification,
          missing,
          ...(classification.endsWith("_error") ? { error: { code: "provider_failed", class: "ProviderError" } } : {}),
        })
        const chain = chainOf(exportOf(summary))
        for (const isOwnAction of [mine, nobody])
          expect(bannerText({ classification, summary, isOwnAction })).toBe(
            bannerText({ classification, summary, incident: chain, isOwnAction }),
          )
      })
})
