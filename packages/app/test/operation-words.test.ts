/**
 * One word per operation, wherever a person reads it: the banner, the panel's headline and
 * evidence note, the event history, the waterfall's rows, the run picker and session badge, the
 * transcript's stop marker and the status line all name an operation by its glossary word, start
 * every sentence with a capital, and call an opencode.json edited on disk "edited".
 */
import { readExport } from "opencode/provenance/export-reader"
import {
  type Classification,
  type IncidentChain,
  LifecycleAction,
  type LifecycleOperation,
  type Origin,
  withProvenance,
} from "opencode/provenance"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import {
  ACTION_WORDS,
  CLASSIFICATION_WORDS,
  classificationWords,
  OPERATION_NOUN,
  STOP_MARKER_WORDS,
} from "../src/diagnostics/glossary.ts"
import { type LinkedAction, statusLine } from "../src/diagnostics/lifecycle-link.ts"
import { eventHistory, evidenceWords, headlineWords } from "../src/diagnostics/story.ts"
import { bannerText } from "../src/diagnostics/verdict-words.ts"
import { buildWaterfall } from "../src/diagnostics/waterfall.ts"
import { exportFor } from "./fixtures.ts"

const CLASSIFICATION: Record<LifecycleOperation, Classification> = {
  reload: "local_instance_reload",
  load_reload: "local_instance_reload",
  dispose: "local_instance_dispose",
  dispose_directory: "local_instance_dispose_directory",
  dispose_all: "local_instance_dispose_all",
}

const ACTION: Partial<Record<LifecycleOperation, { name: string; route: string }>> = {
  reload: { name: "instance.reload", route: "/instance/reload" },
  dispose: { name: "instance.dispose", route: "/instance/dispose" },
  dispose_all: { name: "global.dispose", route: "/global/dispose" },
}

/** Every way a person may meet each operation: the app's button, and the closes nobody clicked. */
function originsFor(operation: LifecycleOperation): { label: string; origin: Origin }[] {
  const action = ACTION[operation]
  const request = (name: string, route: string) => ({
    requestId: "req_reload1",
    route,
    method: "POST",
    clientKind: "app" as const,
    actionHeader: "present" as const,
    actionId: "act_reload1",
    actionName: name,
  })
  const out: { label: string; origin: Origin }[] = []
  if (action)
    out.push({
      label: "the app's button",
      origin: withProvenance({ kind: "api_route", request: request(action.name, action.route) }),
    })
  if (action)
    out.push({
      label: "another client",
      origin: withProvenance({
        kind: "api_route",
        request: {
          requestId: "req_reload1",
          route: action.route,
          method: "POST",
          clientKind: "plain",
          actionHeader: "absent",
        },
      }),
    })
  if (operation === "load_reload")
    out.push({
      label: "a changed context",
      origin: withProvenance({
        kind: "context_mismatch",
        reason: "config_digest_mismatch",
        before: "aaaaaaaa",
        after: "bbbbbbbb",
        detectedDuring: {
          requestId: "req_reload1",
          route: "/session",
          method: "GET",
          clientKind: "app",
          actionHeader: "absent",
        },
      }),
    })
  if (operation === "dispose_directory") {
    out.push({
      label: "an edit on disk",
      origin: withProvenance({ kind: "config_invalidation", scope: "project", fileKey: "cccccccc", change: "created" }),
    })
    out.push({
      label: "a save from the app",
      origin: withProvenance({
        kind: "config_invalidation",
        scope: "project",
        fileKey: "cccccccc",
        change: "modified",
        request: { ...request("config.save", "/config"), method: "PATCH" },
        writtenByRoute: true,
      }),
    })
    out.push({
      label: "the folder's removal",
      origin: withProvenance({ kind: "server_handler", handler: "directory_watch" }),
    })
  }
  if (operation === "dispose_all")
    out.push({ label: "a shutdown", origin: withProvenance({ kind: "shutdown", signal: "SIGTERM" }) })
  return out
}

interface Case {
  operation: LifecycleOperation
  label: string
  origin: Origin
  chain: IncidentChain
  doc: ReturnType<typeof exportFor>
}

/** The diagnosed reload fixture, re-cut as `operation` started by `origin` (a dispose-all with its child). */
function caseFor(operation: LifecycleOperation, label: string, origin: Origin): Case {
  const doc = exportFor("diagnosed")
  const { lifecycle, runs, requests, renderer } = doc.diagnostics
  if (origin.kind !== "api_route" || origin.request?.clientKind !== "app") renderer.length = 0
  if (origin.kind === "config_invalidation" && !origin.request) requests.length = 0
  if (origin.kind === "shutdown" || origin.kind === "server_handler") requests.length = 0
  const root = LifecycleAction.parse({ ...lifecycle[0]!, operation, rootOperation: operation, origin })
  lifecycle[0] = root
  let closer = root
  if (operation === "dispose_all") {
    closer = LifecycleAction.parse({
      ...root,
      lifecycleId: "lc_child1",
      seq: 4,
      operation: "dispose_directory",
      parentId: root.lifecycleId,
      startedAt: root.startedAt + 10,
      finishedAt: root.finishedAt! - 10,
    })
    lifecycle.push(closer)
    lifecycle[0] = LifecycleAction.parse({ ...root, runIds: [] })
  }
  const run = runs[0]!
  run.classification = CLASSIFICATION[operation]
  run.interrupt!.lifecycle = {
    lifecycleId: closer.lifecycleId,
    operation: closer.operation,
    rootOperation: operation,
    rootId: root.lifecycleId,
    origin,
    ...(closer.parentId ? { parentId: closer.parentId } : {}),
  }
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const chain = read.incidents[0]!
  expect(chain.classification, `${operation} by ${label}`).toBe(CLASSIFICATION[operation])
  return { operation, label, origin, chain, doc }
}

const OPERATIONS = Object.keys(CLASSIFICATION) as LifecycleOperation[]
const CASES = OPERATIONS.flatMap((operation) =>
  originsFor(operation).map(({ label, origin }) => caseFor(operation, label, origin)),
)

/** What a person reads for one case, by where it is shown. */
function wordsOf(c: Case, isOwn: boolean): Record<string, string[]> {
  const records = exportData(c.doc).records
  const context = { isOwnAction: (id: string | undefined) => isOwn && id === "act_reload1" }
  const lifecycles = c.doc.diagnostics.lifecycle.map((action) => ({
    lifecycleId: action.lifecycleId,
    operation: action.operation,
    rootId: action.rootId,
    state: "finished" as const,
    runIds: [...action.runIds],
    ...(action.parentId ? { parentId: action.parentId } : {}),
  }))
  const request = "request" in c.origin ? c.origin.request : undefined
  const linked: LinkedAction | undefined = request?.actionName
    ? { actionId: "act_reload1", name: request.actionName, outcome: "ok", lifecycles, stoppedRuns: [c.chain.runId] }
    : undefined
  return {
    banner: [
      bannerText({ classification: c.chain.classification, incident: c.chain, isOwnAction: context.isOwnAction }),
    ],
    headline: [headlineWords(c.chain, records, context), evidenceWords(c.chain).note],
    history: eventHistory(c.chain, records, context).map((item) => item.words),
    waterfall: buildWaterfall(c.chain, records, context).rows.map((row) => row.name),
    picker: [`Started 08:00:00: ${classificationWords(c.chain.classification)}`],
    marker: [`Stopped here: ${STOP_MARKER_WORDS[c.chain.classification]}`],
    status: linked ? [statusLine(linked)] : [],
  }
}

/** A request shown as itself ("POST /instance/dispose") is a route, not a word for the operation. */
const withoutRoutes = (text: string) => text.replace(/\b(GET|POST|PATCH|PUT|DELETE) \/\S*/g, "ROUTE")

/** Every name the glossary gives an operation, and the words it must never be called by. */
const OPERATION_PHRASES = /project reload|project close|close of every project/gi
const RETIRED = [/dispos/i, /\binstance\b/i, /this project closed/i, /every project closed/i]

describe("one word per operation", () => {
  it("covers every operation and every lifecycle classification", () => {
    expect(new Set(CASES.map((c) => c.operation))).toEqual(new Set(OPERATIONS))
    expect(new Set(CASES.map((c) => c.chain.classification))).toEqual(new Set(Object.values(CLASSIFICATION)))
  })

  for (const c of CASES) {
    for (const isOwn of [true, false]) {
      it(`${c.operation} started by ${c.label}${isOwn ? " (this tab)" : ""}: only its glossary word, never a retired one`, () => {
        const path = c.operation === "dispose_all" ? (["dispose_all", "dispose_directory"] as const) : [c.operation]
        const allowed = new Set(path.map((op) => OPERATION_NOUN[op].toLowerCase().match(OPERATION_PHRASES)![0]))
        const words = wordsOf(c, isOwn)
        for (const [where, texts] of Object.entries(words)) {
          for (const text of texts.map(withoutRoutes)) {
            for (const retired of RETIRED) expect(text, `${where}: ${text}`).not.toMatch(retired)
            for (const phrase of text.toLowerCase().match(OPERATION_PHRASES) ?? [])
              expect(allowed, `${where}: ${text}`).toContain(phrase)
          }
        }
        // The root operation is named by its word where the stop is summed up.
        const noun = OPERATION_NOUN[c.operation].toLowerCase()
        for (const where of ["banner", "picker", "marker"] as const)
          expect(words[where].join(" ").toLowerCase(), where).toContain(noun)
        // Every close on the chain is a row of the waterfall and a step of the history, by its word.
        for (const op of path) {
          expect(words.waterfall.join(" | ").toLowerCase(), "waterfall").toContain(OPERATION_NOUN[op].toLowerCase())
          expect(words.history.join(" | ").toLowerCase(), "history").toContain(OPERATION_NOUN[op].toLowerCase())
        }
      })

      it(`${c.operation} started by ${c.label}${isOwn ? " (this tab)" : ""}: every sentence starts with a capital`, () => {
        for (const [where, texts] of Object.entries(wordsOf(c, isOwn))) {
          for (const text of texts) {
            expect(text, `${where}: ${text}`).toMatch(/^[A-Z]/)
            expect(text, `${where}: ${text}`).not.toMatch(/[.!?]\s+[a-z]/)
          }
        }
      })
    }
  }

  it("an opencode.json edited on disk is edited, never created", () => {
    const edits = CASES.filter((c) => c.origin.kind === "config_invalidation" && !c.origin.request)
    expect(edits).toHaveLength(1)
    for (const [where, texts] of Object.entries(wordsOf(edits[0]!, false))) {
      for (const text of texts) expect(text, `${where}: ${text}`).not.toMatch(/creat/i)
    }
    const words = wordsOf(edits[0]!, false)
    expect(words.banner[0]).toContain("edited outside the app")
    expect(words.waterfall.join(" | ")).toContain("The project's opencode.json was edited outside the app")
  })

  it("the app's buttons for a close are called by the operation's word", () => {
    expect(ACTION_WORDS["instance.dispose"]!.toLowerCase()).toContain("close")
    expect(ACTION_WORDS["global.dispose"]!.toLowerCase()).toContain("close")
    for (const words of [
      ...Object.values(ACTION_WORDS),
      ...Object.values(CLASSIFICATION_WORDS),
      ...Object.values(STOP_MARKER_WORDS),
    ])
      expect(words).not.toMatch(/dispos/i)
  })
})
