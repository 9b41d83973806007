/**
 * Links the server's lifecycle and run events to the renderer action the user just took: a
 * lifecycle action belongs to a renderer action when its origin's request carries that action's
 * id (an `api_route`, or the `PATCH`/`PUT /config` request that wrote a `config_invalidation`), and a
 * child action (`dispose_all → dispose_directory`) belongs to whichever action owns its root.
 * Pure: the ClientActionContext keeps the state, these functions compute the next one.
 */
import { type LifecycleAction, type Origin, type RunSummary, unique } from "opencode/provenance"
import { plainError } from "../context/server.ts"
import { ACTION_WORDS, operationTitle } from "./glossary.ts"

/** A button's label by action name (the glossary's), or the name itself when it has none. */
export function actionLabel(name: string): string {
  return ACTION_WORDS[name] ?? name
}

interface LinkedLifecycle {
  lifecycleId: string
  operation: LifecycleAction["operation"]
  parentId?: string
  rootId: string
  state: "started" | "finished"
  runIds: string[]
}

export interface LinkedAction {
  actionId: string
  name: string
  outcome: "pending" | "ok" | "error"
  error?: string
  lifecycles: LinkedLifecycle[]
  /** Runs whose `run.finished` named one of this action's lifecycle actions (or its cancel request). */
  stoppedRuns: string[]
}

/** The renderer action id an origin was initiated by, if any. A `load`'s occasion does not count. */
function originActionId(origin: Origin): string | undefined {
  if (origin.kind === "api_route" || origin.kind === "config_invalidation") return origin.request?.actionId
  return undefined
}

/** Applies a `lifecycle.action.started/finished`; returns the same array when nothing matched. */
export function linkLifecycle(
  actions: readonly LinkedAction[],
  action: LifecycleAction,
  phase: "started" | "finished",
): readonly LinkedAction[] {
  const direct = originActionId(action.origin)
  const index = actions.findIndex(
    (linked) =>
      linked.actionId === direct ||
      linked.lifecycles.some(
        (lc) =>
          lc.lifecycleId === action.rootId ||
          lc.lifecycleId === action.parentId ||
          lc.lifecycleId === action.lifecycleId,
      ),
  )
  if (index < 0) return actions
  const linked = actions[index]!
  const entry: LinkedLifecycle = {
    lifecycleId: action.lifecycleId,
    operation: action.operation,
    rootId: action.rootId,
    state: phase,
    runIds: [...action.runIds],
    ...(action.parentId ? { parentId: action.parentId } : {}),
  }
  const known = linked.lifecycles.findIndex((lc) => lc.lifecycleId === action.lifecycleId)
  const lifecycles = [...linked.lifecycles]
  if (known < 0) lifecycles.push(entry)
  else
    lifecycles[known] = {
      ...entry,
      state: lifecycles[known]!.state === "finished" ? "finished" : phase,
      runIds: unique([...lifecycles[known]!.runIds, ...entry.runIds]),
    }
  const next = [...actions]
  next[index] = { ...linked, lifecycles }
  return next
}

/** Applies a `run.finished`: the run counts for the action whose lifecycle (or cancel) stopped it. */
export function linkRunFinished(actions: readonly LinkedAction[], summary: RunSummary): readonly LinkedAction[] {
  const interrupt = summary.interrupt
  if (!interrupt) return actions
  const lifecycleIds = interrupt.lifecycle ? [interrupt.lifecycle.lifecycleId, interrupt.lifecycle.rootId] : []
  const cancelActionId = interrupt.request?.actionId
  const index = actions.findIndex(
    (linked) =>
      (cancelActionId !== undefined && linked.actionId === cancelActionId) ||
      linked.lifecycles.some((lc) => lifecycleIds.includes(lc.lifecycleId)),
  )
  if (index < 0) return actions
  const linked = actions[index]!
  if (linked.stoppedRuns.includes(summary.runId)) return actions
  const next = [...actions]
  next[index] = { ...linked, stoppedRuns: [...linked.stoppedRuns, summary.runId] }
  return next
}

/** Every run this action's lifecycle actions closed, from their records and from run events. */
function closedRuns(linked: LinkedAction): string[] {
  return unique([...linked.lifecycles.flatMap((lc) => lc.runIds), ...linked.stoppedRuns])
}

/**
 * One line for the status bar, in words: what the user did and what came of it. The lifecycle
 * ids stay out of it (the panel's "Ids and technical details" holds them).
 *
 * @example statusLine(reload) // "Reload project: done, 1 run stopped"
 */
export function statusLine(linked: LinkedAction): string {
  const label = actionLabel(linked.name)
  if (linked.outcome === "error") return `${label} failed: ${plainError(linked.error ?? "the server refused it")}`
  const root = linked.lifecycles.find((lc) => lc.parentId === undefined) ?? linked.lifecycles[0]
  if (!root) return linked.outcome === "pending" ? `${label}: sent…` : `${label}: done`
  if (root.state !== "finished") return `${label}: ${operationTitle(root.operation).toLowerCase()} under way…`
  const count = closedRuns(linked).length
  const projects = linked.lifecycles.filter((lc) => lc.parentId !== undefined).length
  const reach = root.operation === "dispose_all" ? `, ${projects} project${projects === 1 ? "" : "s"} closed` : ""
  return `${label}: done${reach}, ${count === 0 ? "no run" : `${count} run${count === 1 ? "" : "s"}`} stopped`
}
