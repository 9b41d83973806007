/**
 * ClientActionContext: every user-visible action that calls the server runs through
 * `runAction(name, fn)`. It creates the action id, records the action in the action log (hop 1
 * of the causal spine), and hands `fn` an `ActionApi` whose requests carry
 * `x-opencode-client`, `x-opencode-action-id`, `x-opencode-action-name` and a `traceparent`
 * naming the action's own W3C trace and root span. The stamp travels
 * as an explicit argument, not ambient state, so a request made after an `await` or from a
 * timer can never pick up another action's id.
 *
 * It also links the lifecycle and run events that answer an action back to it, for the
 * status line ("Reload project → lifecycle lc_… finished, closed 1 run").
 */
import { type Accessor, createContext, createSignal, onCleanup, type ParentProps, useContext } from "solid-js"
import { newSpanId, newTraceId } from "opencode/provenance"
import type { z } from "zod"
import { ActionLog, newActionId } from "../diagnostics/action-log.ts"
import { type LinkedAction, linkLifecycle, linkRunFinished } from "../diagnostics/lifecycle-link.ts"
import type { EventHub } from "./events.tsx"
import type { ActionStamp, RequestOptions, ServerConnection, ServerResponse } from "./server.ts"

/** The dotted action names the app uses (the server accepts any `[a-z0-9_.]{1,64}`). */
export type AppActionName =
  | "session.create"
  | "session.prompt"
  | "session.abort"
  | "instance.reload"
  | "instance.dispose"
  | "global.dispose"
  | "project.git.init"
  | "config.save"
  | "session.export"

/** The requests available inside an action; each one is stamped with the action's headers. */
interface ActionApi {
  readonly stamp: ActionStamp
  request<T = unknown>(
    method: string,
    path: string,
    options?: Omit<RequestOptions<T>, "action">,
  ): Promise<ServerResponse<T>>
  post<T = unknown>(path: string, body?: unknown, schema?: z.ZodType<T>): Promise<T>
  patch<T = unknown>(path: string, body?: unknown, schema?: z.ZodType<T>): Promise<T>
  get<T = unknown>(path: string, schema?: z.ZodType<T>, query?: Record<string, string | undefined>): Promise<T>
}

interface ClientActionState {
  runAction<T>(name: AppActionName, fn: (api: ActionApi) => Promise<T>): Promise<T>
  /** The most recent actions, newest last, with the lifecycle actions linked to them. */
  recent: Accessor<readonly LinkedAction[]>
  /** Whether an action id was created in this tab (the banner says "you requested"). */
  isOwnAction(actionId: string | undefined): boolean
  log: ActionLog
}

const MAX_RECENT = 20

interface ClientActionOptions {
  connection: ServerConnection
  log?: ActionLog
  events?: EventHub
  /** The current pathname; reduced to its route template by the log. */
  page?: () => string
}

export function createClientActions(options: ClientActionOptions): ClientActionState {
  const { connection } = options
  const log =
    options.log ??
    new ActionLog({
      send: async (actions) => {
        await connection.request("POST", "/diagnostics/renderer", { body: { actions } })
      },
    })
  const page = options.page ?? (() => window.location.pathname)
  const own = ownActionIds()
  const [recent, setRecent] = createSignal<readonly LinkedAction[]>([])
  const update = (actionId: string, patch: Partial<LinkedAction>) =>
    setRecent((list) => list.map((item) => (item.actionId === actionId ? { ...item, ...patch } : item)))

  if (options.events) {
    const unsubscribe = options.events.subscribe((event) => {
      if (event.type === "lifecycle.action.started" || event.type === "lifecycle.action.finished") {
        const phase = event.type === "lifecycle.action.started" ? "started" : "finished"
        setRecent((list) => linkLifecycle(list, event.properties.action, phase))
      } else if (event.type === "run.finished") {
        setRecent((list) => linkRunFinished(list, event.properties.summary))
      }
    })
    onCleanup(unsubscribe)
  }

  async function runAction<T>(name: AppActionName, fn: (api: ActionApi) => Promise<T>): Promise<T> {
    // The action's trace starts here, at the click: its requests carry this span as their parent.
    const stamp: ActionStamp = { actionId: newActionId(), name, traceId: newTraceId(), spanId: newSpanId() }
    own.add(stamp.actionId)
    rememberOwn(own)
    log.start({ ...stamp, page: page() })
    setRecent((list) =>
      [...list, { actionId: stamp.actionId, name, outcome: "pending" as const, lifecycles: [], stoppedRuns: [] }].slice(
        -MAX_RECENT,
      ),
    )

    const request = async <R,>(method: string, path: string, opts: Omit<RequestOptions<R>, "action"> = {}) => {
      try {
        const response = await connection.request<R>(method, path, { ...opts, action: stamp })
        log.addRequestId(stamp.actionId, response.requestId)
        return response
      } catch (error) {
        const requestId = (error as { requestId?: unknown }).requestId
        log.addRequestId(stamp.actionId, typeof requestId === "string" ? requestId : undefined)
        throw error
      }
    }
    const api: ActionApi = {
      stamp,
      request,
      post: async (path, body, schema) => (await request("POST", path, { body, schema })).data,
      patch: async (path, body, schema) => (await request("PATCH", path, { body, schema })).data,
      get: async (path, schema, query) => (await request("GET", path, { schema, query })).data,
    }
    try {
      const result = await fn(api)
      log.finish(stamp.actionId, "ok")
      update(stamp.actionId, { outcome: "ok" })
      return result
    } catch (error) {
      log.finish(stamp.actionId, "error")
      update(stamp.actionId, { outcome: "error", error: error instanceof Error ? error.message : String(error) })
      throw error
    }
  }

  return { runAction, recent, isOwnAction: (id) => id !== undefined && own.has(id), log }
}

const OWN_KEY = "opencode.ownActions"
const MAX_OWN = 200

/** Action ids created in this tab, kept across page reloads so the banner can still say "you". */
function ownActionIds(): Set<string> {
  try {
    const parsed: unknown = JSON.parse(window.sessionStorage.getItem(OWN_KEY) ?? "[]")
    return new Set(Array.isArray(parsed) ? parsed.filter((id): id is string => typeof id === "string") : [])
  } catch {
    return new Set()
  }
}

function rememberOwn(own: Set<string>): void {
  try {
    window.sessionStorage.setItem(OWN_KEY, JSON.stringify([...own].slice(-MAX_OWN)))
  } catch {
    // Storage full or disabled: "you requested" then only holds for this page's lifetime.
  }
}

const ClientActionContext = createContext<ClientActionState>()

export function ClientActionProvider(props: ParentProps<{ state: ClientActionState }>) {
  return <ClientActionContext.Provider value={props.state}>{props.children}</ClientActionContext.Provider>
}

export function useClientActions(): ClientActionState {
  const state = useContext(ClientActionContext)
  if (!state) throw new Error("useClientActions outside ClientActionProvider")
  return state
}
