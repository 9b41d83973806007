/**
 * Incident chains as trace spans (docs/protocol.md, "Tracing"): a pure function from chains and
 * the records they name to plain span data, which `server/tracing/` hands to the OpenTelemetry
 * exporter. One incident is one trace rooted at the user action; the run it stopped is its own
 * trace (it began earlier, from another action), linked both ways.
 *
 * Only allow-listed facts become attributes: ids, route templates, names, kinds, counts, times,
 * verdicts. Never a prompt, a tool input, a path, a body, an error excerpt or a secret.
 */
import { NOT_IN_MESSAGES_ONLY } from "./export-formats/common.ts"
import { modelToken } from "./export-records.ts"
import {
  codeToken,
  HTTP_METHODS,
  isAppPage,
  messageIdToken,
  nameToken,
  ROUTE_TEMPLATES,
  sessionIdToken,
  UNKNOWN_PAGE,
  workspaceIdToken,
} from "./foreign-text.ts"
import { HOP_MISSING_NAME } from "./incident-chain.ts"
import { parseTraceparent } from "./trace-context.ts"
import { unique } from "./unique.ts"
import type {
  ClientAction,
  CrashEvidence,
  Hop,
  IncidentChain,
  LifecycleAction,
  RequestContext,
  RunSummary,
  ToolFact,
} from "./schemas.ts"

/** The `gen_ai.*` attribute names this mapping uses (OpenTelemetry GenAI semantic conventions), copied once. */
const GEN_AI = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  conversationId: "gen_ai.conversation.id",
  toolName: "gen_ai.tool.name",
  toolCallId: "gen_ai.tool.call.id",
} as const

type AttributeValue = string | number | boolean | string[]
type SpanAttributes = Record<string, AttributeValue>

interface TraceSpanLink {
  traceId: string
  spanId: string
  attributes: SpanAttributes
}

/** One span as the exporter needs it: explicit ids, times (ms since the epoch), links, events, status. */
export interface TraceSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: "internal" | "server"
  startMs: number
  endMs: number
  attributes: SpanAttributes
  status: { code: "unset" | "ok" | "error"; message?: string }
  events: { name: string; timeMs: number; attributes: SpanAttributes }[]
  links: TraceSpanLink[]
}

interface TraceInput {
  chains: readonly IncidentChain[]
  /** Run summaries; a completed run (no chain) becomes a run trace only. */
  runs?: readonly RunSummary[]
  requests?: readonly RequestContext[]
  renderer?: readonly ClientAction[]
  lifecycle?: readonly LifecycleAction[]
  crashes?: readonly CrashEvidence[]
  /**
   * Messages that recorded an error, from a file with no run diagnostics (upstream opencode): each
   * is an incident whose provenance is unknown, a trace of one span naming what is missing.
   */
  stoppedMessages?: readonly { messageId?: string; error: string }[]
  sessionId?: string
  /** The time of spans no record dates (an upstream export's chains): the export's time, or now. */
  fallbackTimeMs: number
}

/**
 * Ids derived from the records' own ids (FNV-1a, no crypto: this module runs in the browser
 * too), so the same incident sent twice, by the server and by `explain --otlp`, is the same trace.
 */
function derivedId(key: string, hexLength: 16 | 32): string {
  let out = ""
  for (let round = 0; out.length < hexLength; round++) {
    let hash = 0xcbf29ce484222325n
    for (const char of `${round}:${key}`) {
      hash ^= BigInt(char.codePointAt(0)!)
      hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
    }
    out += hash.toString(16).padStart(16, "0")
  }
  const id = out.slice(0, hexLength)
  return /^0+$/.test(id) ? `${id.slice(0, -1)}1` : id
}

/** The run's own trace: derived from its id (the prompt's request records no traceparent). */
export function runTraceId(runId: string): string {
  return derivedId(`run:${runId}`, 32)
}

const spanId = (key: string) => derivedId(`span:${key}`, 16)

/**
 * The request-context middleware's route for a request no route matched (`UNMATCHED_ROUTE` in
 * `server/middleware/request-context.ts`, which this module cannot import: it runs in the browser
 * too). A fixed mark, not free text; a test keeps the two equal.
 */
export const UNMATCHED_ROUTE = "(unmatched)"

const REQUEST_ID = /^req_[A-Za-z0-9_-]{1,64}$/
const isRoute = (value: string) => ROUTE_TEMPLATES.has(value) || value === UNMATCHED_ROUTE
const isMethod = (value: string) => HTTP_METHODS.has(value)
const isName = (value: string) => codeToken(value) !== undefined
const ACTION_ID = /^act_[A-Za-z0-9_-]{1,64}$/

/**
 * The strings a span may carry from a record, each reduced the way `foreign-text.ts` reduces a
 * chain's: a route is one of this server's templates, a page one of the app's, a method a method,
 * a name a token. The first candidate that is one wins (a record's own value, then the chain's);
 * none is `unknown`, or no attribute. The server's own records already hold only these, so its
 * spans are unchanged; a file's (another writer's, a hand-edited one) or a client's upload can
 * hold anything its schema's length allows, and that never becomes a span's name or attribute.
 *
 * @example spanText.route("/home/me/x?key=1", "/instance/reload") // "/instance/reload"
 */
const spanText = {
  route: (...candidates: readonly unknown[]): string => firstOf(candidates, isRoute) ?? "unknown",
  method: (...candidates: readonly unknown[]): string => firstOf(candidates, isMethod) ?? "UNKNOWN",
  /** A page that is none of the app's templates is the app's own `/unknown`; no page at all is none. */
  page: (...candidates: readonly unknown[]): string | undefined =>
    firstOf(candidates, isAppPage) ?? (candidates.some((value) => value !== undefined) ? UNKNOWN_PAGE : undefined),
  name: (...candidates: readonly unknown[]): string => firstOf(candidates, isName) ?? "unknown",
} as const

function firstOf(candidates: readonly unknown[], keep: (value: string) => boolean): string | undefined {
  for (const value of candidates) if (typeof value === "string" && keep(value)) return value
  return undefined
}

/**
 * `gen_ai.provider.name` and `gen_ai.request.model` of a run's model, each only when it is a token
 * (`modelToken`): a record's model may be a prompt's free text, or the server's
 * `openai/[redacted:model]` for one that was not, which keeps its provider alone.
 *
 * @example modelAttributes("openai/gpt-4o") // { "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o" }
 */
function modelAttributes(model: string | undefined): Record<string, string> {
  if (model === undefined) return {}
  const slash = model.indexOf("/")
  const provider = slash > 0 ? modelToken(model.slice(0, slash)) : undefined
  const kept = modelToken(model)
  return {
    ...(provider ? { [GEN_AI.providerName]: provider } : {}),
    ...(kept ? { [GEN_AI.requestModel]: slash > 0 ? kept.slice(slash + 1) : kept } : {}),
  }
}

/** The origin's kind as a name (`api_route`), else `unknown`. */
const originKind = (chain: IncidentChain): string => nameToken(chain.origin.kind, 32) ?? "unknown"

/** Lifecycle span names by the origin that started the close, else by its operation. */
function lifecycleSpanName(chain: IncidentChain, operation: string | undefined): string {
  const origin = chain.origin as { kind: string; signal?: unknown }
  if (origin.kind === "shutdown")
    return typeof origin.signal === "string" && origin.signal.startsWith("desktop_window")
      ? "lifecycle.desktop_close"
      : "lifecycle.shutdown"
  if (origin.kind === "config_invalidation") return "lifecycle.config_edit"
  return `lifecycle.${operation ?? "unknown"}`
}

/** What set the close off, as a token: a signal, a handler, a file change, a mismatch reason. */
function triggerOf(origin: IncidentChain["origin"]): string | undefined {
  for (const key of ["signal", "handler", "change", "reason", "closeSite"] as const) {
    const value = (origin as Record<string, unknown>)[key]
    if (typeof value === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(value) && isName(value)) return value
  }
  return undefined
}

function originRequestOf(
  chain: IncidentChain,
): { requestId?: string; method?: string; route?: string; actionId?: string; actionName?: string } | undefined {
  const origin = chain.origin as Record<string, unknown>
  const request = (origin.request ?? origin.detectedDuring) as Record<string, unknown> | undefined
  if (!request || typeof request !== "object") return undefined
  // Each kept only in its shape: an origin is `unknown`-typed past its kind.
  const shapes = {
    requestId: (value: string) => REQUEST_ID.test(value),
    method: isMethod,
    route: isRoute,
    actionId: (value: string) => ACTION_ID.test(value),
    actionName: isName,
  }
  const out: { requestId?: string; method?: string; route?: string; actionId?: string; actionName?: string } = {}
  for (const key of ["requestId", "method", "route", "actionId", "actionName"] as const) {
    const value = request[key]
    if (typeof value === "string" && shapes[key](value)) out[key] = value
  }
  return out
}

function retrySafe(chain: IncidentChain): string {
  return chain.retry.safe === "unknown" ? "unknown" : String(chain.retry.safe)
}

function byId<T>(list: readonly T[] | undefined, key: (item: T) => string): Map<string, T> {
  const map = new Map<string, T>()
  for (const item of list ?? []) if (!map.has(key(item))) map.set(key(item), item)
  return map
}

/** The last evidence of a crashed run: its heartbeat, its last output, its last tool step. */
function lastEvidence(crash: CrashEvidence): number {
  const times = [crash.startedAt, crash.lastHeartbeatAt ?? 0, crash.lastOutputAt ?? 0]
  for (const tool of crash.tools ?? []) times.push(tool.startedAt, tool.completedAt ?? 0)
  return Math.max(...times)
}

const hopOrder: readonly Hop[] = ["renderer", "request", "lifecycle", "interrupt"]

/**
 * @example const spans = traceSpans({ chains: doc.incidents, runs: doc.diagnostics.runs, fallbackTimeMs: doc.exportedAt })
 */
export function traceSpans(input: TraceInput): TraceSpan[] {
  const runs = byId(input.runs, (run) => run.runId)
  const requests = byId(input.requests, (request) => request.requestId)
  const renderer = byId(input.renderer, (action) => action.actionId)
  const lifecycle = byId(input.lifecycle, (action) => action.lifecycleId)
  const crashes = byId(input.crashes, (crash) => crash.runId)
  const spans = new Map<string, TraceSpan>()
  const add = (span: TraceSpan) => {
    // Chains that share an action (one reload closing three runs) share its spans: sent once.
    if (!spans.has(span.spanId)) spans.set(span.spanId, span)
    return span
  }
  const chained = new Set<string>()

  for (const chain of input.chains) {
    chained.add(chain.runId)
    const run = runs.get(chain.runId)
    const crash = crashes.get(chain.runId)
    const request = originRequestOf(chain)
    const requestRecord = request?.requestId ? requests.get(request.requestId) : undefined
    const actionId = request?.actionId ?? requestRecord?.actionId
    const action = actionId ? renderer.get(actionId) : undefined
    const path = chain.lifecyclePath ?? []
    const actions = path.map((step) => lifecycle.get(step.lifecycleId))
    const interruptAt = run?.interrupt?.at
    const anchor =
      interruptAt ??
      actions.at(-1)?.startedAt ??
      chain.requestRecord?.time ??
      requestRecord?.time ??
      run?.finishedAt ??
      crash?.detectedAt ??
      input.fallbackTimeMs

    const parent = parseTraceparent(requestRecord?.traceparent)
    const rootKey = actionId ?? request?.requestId ?? chain.rootLifecycleId ?? chain.lifecycleId ?? chain.runId
    const appSpan = appActionSpan(parent, action)
    const traceId = appSpan?.traceId ?? derivedId(`incident:${rootKey}`, 32)
    const links = new Map(chain.links.map((link) => [link.hop, link]))
    const runTrace = runTraceId(chain.runId)
    const runSpanId = spanId(`run:${chain.runId}`)
    let parentSpanId: string | undefined
    const crashed = chain.verdict === "crash_evidence"

    for (const hop of hopOrder) {
      const link = links.get(hop)
      if (!link || link.status === "not_applicable" || link.status === "remote_reported") continue
      if (hop === "interrupt" && crashed) continue
      if (link.status !== "present") {
        const name = HOP_MISSING_NAME[hop]
        const fields = unique([
          name,
          ...chain.missing.filter((field) => hop === "request" && field.startsWith("origin.")),
        ])
        // A missing interrupt stands in the interrupt's place: it carries the verdict and the run's link.
        const standsForInterrupt = hop === "interrupt"
        // An old writer could not record the hop: labelled as such, never counted as missing provenance.
        const notRecorded = link.status === "not_recorded_by_writer"
        const span = add({
          traceId,
          spanId: standsForInterrupt
            ? spanId(`interrupt:${chain.runId}`)
            : spanId(`missing:${hop}:${hop === "lifecycle" ? chain.runId : rootKey}`),
          ...(parentSpanId ? { parentSpanId } : {}),
          name: `${notRecorded ? "not_recorded" : "missing"} ${name}`,
          kind: "internal",
          startMs: anchor,
          endMs: anchor,
          attributes: {
            ...(standsForInterrupt ? incidentAttributes(chain) : {}),
            ...(notRecorded
              ? { "app.provenance.not_recorded": [name] }
              : { "app.provenance.missing": standsForInterrupt ? unique([name, ...chain.missing]) : fields }),
            "app.hop": hop,
            "app.hop.status": link.status,
          },
          status: notRecorded ? { code: "unset" } : { code: "error", message: `${name} was not recorded` },
          events: [],
          links: standsForInterrupt
            ? [{ traceId: runTrace, spanId: runSpanId, attributes: { "app.link": "interrupted_run" } }]
            : [],
        })
        parentSpanId = span.spanId
        continue
      }
      if (hop === "renderer") {
        const time = action?.time ?? requestRecord?.time ?? anchor
        const name = spanText.name(action?.name, request?.actionName, chain.rendererAction?.name)
        const page = spanText.page(action?.page, chain.rendererAction?.page)
        const span = add({
          traceId,
          // The app's own span for the action, when it sent one: the request's parent is then this span.
          spanId: appSpan?.spanId ?? spanId(`action:${actionId ?? rootKey}`),
          name: `user_action ${name}`,
          kind: "internal",
          startMs: time,
          endMs: Math.max(time, requestEnd(requestRecord, chain) ?? time),
          attributes: {
            "app.action.id": actionId ?? link.ref ?? "",
            "app.action.name": name,
            ...(page ? { "app.page": page } : {}),
            ...(action ? { "app.action.outcome": action.outcome } : {}),
            ...(appSpan?.rendererDisagrees ? { "app.trace.renderer_disagrees": true } : {}),
            "app.source": "client_reported",
          },
          status: { code: "unset" },
          events: [],
          links: [],
        })
        parentSpanId = span.spanId
      } else if (hop === "request") {
        const method = spanText.method(requestRecord?.method, request?.method)
        const route = spanText.route(requestRecord?.route, request?.route)
        const time = chain.requestRecord?.time ?? requestRecord?.time ?? anchor
        const status = chain.requestRecord?.status ?? requestRecord?.status
        const span = add({
          traceId,
          spanId: spanId(`request:${request?.requestId ?? link.ref ?? chain.runId}`),
          ...(parentSpanId ? { parentSpanId } : parent ? { parentSpanId: parent.parentId } : {}),
          name: `${method} ${route}`,
          kind: "server",
          startMs: time,
          endMs: requestEnd(requestRecord, chain) ?? time,
          attributes: {
            "http.request.method": method,
            "http.route": route,
            ...(status !== undefined ? { "http.response.status_code": status } : {}),
            "app.request.id": request?.requestId ?? link.ref ?? "",
            ...(requestRecord ? { "app.client.kind": requestRecord.clientKind } : {}),
          },
          status: status !== undefined && status >= 500 ? { code: "error" } : { code: "unset" },
          events: [],
          links: [],
        })
        parentSpanId = span.spanId
      } else if (hop === "lifecycle") {
        const steps =
          path.length > 0 ? path : [{ lifecycleId: chain.lifecycleId ?? link.ref ?? "", operation: chain.operation }]
        steps.forEach((step, index) => {
          const record = actions[index] ?? lifecycle.get(step.lifecycleId)
          const start = record?.startedAt ?? anchor
          const span = add({
            traceId,
            spanId: spanId(`lifecycle:${step.lifecycleId}`),
            ...(parentSpanId ? { parentSpanId } : {}),
            name: index === 0 ? lifecycleSpanName(chain, step.operation) : `lifecycle.${step.operation ?? "unknown"}`,
            kind: "internal",
            startMs: start,
            endMs: record?.finishedAt ?? Math.max(start, anchor),
            attributes: {
              "app.lifecycle.id": step.lifecycleId,
              ...(step.operation ? { "app.lifecycle.operation": step.operation } : {}),
              ...(chain.rootOperation ? { "app.lifecycle.root_operation": chain.rootOperation } : {}),
              "app.origin.kind": originKind(chain),
              ...(triggerOf(chain.origin) ? { "app.origin.trigger": triggerOf(chain.origin)! } : {}),
              ...(record
                ? {
                    "app.lifecycle.directory_count": record.directoryCount,
                    "app.lifecycle.run_count": record.runIds.length,
                  }
                : {}),
              ...(record?.failed?.length
                ? { "app.lifecycle.failed_steps": record.failed.map((failure) => failure.step) }
                : {}),
            },
            status: record?.failed?.length ? { code: "error", message: "a close step failed" } : { code: "unset" },
            events: [],
            links: [],
          })
          parentSpanId = span.spanId
        })
      } else {
        const span = add({
          traceId,
          spanId: spanId(`interrupt:${chain.runId}`),
          ...(parentSpanId ? { parentSpanId } : {}),
          name: `interrupt ${chain.classification}`,
          kind: "internal",
          startMs: anchor,
          endMs: Math.max(anchor, run?.finishedAt ?? anchor),
          attributes: incidentAttributes(chain),
          status: { code: "error", message: chain.classification },
          events: [],
          links: [{ traceId: runTrace, spanId: runSpanId, attributes: { "app.link": "interrupted_run" } }],
        })
        parentSpanId = span.spanId
      }
    }

    if (crashed) {
      // The restart's scan found the run: the crash's own span, the run trace links to it.
      const detectedAt = crash?.detectedAt ?? run?.finishedAt ?? anchor
      add({
        traceId,
        spanId: spanId(`crash_scan:${chain.runId}`),
        ...(parentSpanId ? { parentSpanId } : {}),
        name: "crash_scan",
        kind: "internal",
        startMs: detectedAt,
        endMs: detectedAt,
        attributes: { ...incidentAttributes(chain), "error.type": "crash" },
        status: { code: "error", message: "the process ended without finalizing the run" },
        events: [],
        links: [{ traceId: runTrace, spanId: runSpanId, attributes: { "app.link": "crashed_run" } }],
      })
    }

    const incidentSpanId = spanId(`${crashed ? "crash_scan" : "interrupt"}:${chain.runId}`)
    const incidentLinked = spans.has(incidentSpanId)
    addRunSpans(add, {
      runId: chain.runId,
      sessionId: chain.sessionId,
      run,
      crash,
      chain,
      fallbackTimeMs: anchor,
      incident: incidentLinked ? { traceId, spanId: incidentSpanId, crashed } : undefined,
    })
  }

  // A file's session and message ids, kept only in their shapes (a file's `id` can be any short string).
  const sessionId = sessionIdToken(input.sessionId)
  for (const [index, message] of (input.stoppedMessages ?? []).entries()) {
    const id = messageIdToken(message.messageId)
    const key = `stopped:${sessionId ?? ""}:${id ?? index}`
    add({
      traceId: derivedId(key, 32),
      spanId: spanId(key),
      name: "missing origin",
      kind: "internal",
      startMs: input.fallbackTimeMs,
      endMs: input.fallbackTimeMs,
      attributes: {
        "error.type": codeToken(message.error) ?? "unknown",
        "app.verdict": "missing_provenance",
        "app.provenance.missing": [...NOT_IN_MESSAGES_ONLY],
        ...(id ? { "app.message.id": id } : {}),
        ...(sessionId ? { [GEN_AI.conversationId]: sessionId } : {}),
      },
      status: { code: "error", message: "the file records that the message stopped, not why" },
      events: [],
      links: [],
    })
  }

  for (const run of input.runs ?? [])
    if (!chained.has(run.runId))
      addRunSpans(add, { runId: run.runId, sessionId: run.sessionId, run, fallbackTimeMs: run.finishedAt })
  return [...spans.values()]
}

/**
 * The ids of the app's span for the action: the trace it started and the action's root span, as
 * the request's recorded `traceparent` names them and the renderer record repeats them. When the
 * two disagree the server's record wins (the request span's parent must be the id the request
 * carried), and the span says so; with no traceparent, the record's ids stand alone.
 */
function appActionSpan(
  parent: { traceId: string; parentId: string } | undefined,
  action: ClientAction | undefined,
): { traceId: string; spanId: string; rendererDisagrees: boolean } | undefined {
  const recorded = action?.traceId && action.spanId ? { traceId: action.traceId, spanId: action.spanId } : undefined
  if (parent) {
    const rendererDisagrees =
      recorded !== undefined && (recorded.traceId !== parent.traceId || recorded.spanId !== parent.parentId)
    return { traceId: parent.traceId, spanId: parent.parentId, rendererDisagrees }
  }
  return recorded && { ...recorded, rendererDisagrees: false }
}

function requestEnd(record: RequestContext | undefined, chain: IncidentChain): number | undefined {
  const time = chain.requestRecord?.time ?? record?.time
  const duration = chain.requestRecord?.durationMs ?? record?.durationMs
  return time !== undefined && duration !== undefined ? time + Math.round(duration) : undefined
}

function incidentAttributes(chain: IncidentChain): SpanAttributes {
  const workspace = workspaceIdToken(chain.origin.workspaceId)
  return {
    "error.type": "cancelled",
    "app.run.id": chain.runId,
    "app.classification": chain.classification,
    "app.verdict": chain.verdict,
    "app.origin.kind": originKind(chain),
    ...(triggerOf(chain.origin) ? { "app.origin.trigger": triggerOf(chain.origin)! } : {}),
    "app.provenance.complete": chain.verdict === "diagnosed",
    "app.provenance.missing": [...chain.missing],
    "app.retry.safe": retrySafe(chain),
    "app.retry.reason": [...chain.retry.basis],
    ...(chain.phase ? { "app.run.phase": chain.phase } : {}),
    ...(chain.notRecorded?.length ? { "app.provenance.not_recorded": [...chain.notRecorded] } : {}),
    ...(workspace ? { "app.workspace.id": workspace } : {}),
    "app.remote_reported_hops": chain.links.filter((link) => link.status === "remote_reported").map((link) => link.hop),
  }
}

function addRunSpans(
  add: (span: TraceSpan) => TraceSpan,
  args: {
    runId: string
    sessionId: string
    run?: RunSummary | undefined
    crash?: CrashEvidence | undefined
    chain?: IncidentChain
    fallbackTimeMs: number
    incident?: { traceId: string; spanId: string; crashed: boolean } | undefined
  },
): void {
  const { run, crash, chain, incident } = args
  const traceId = runTraceId(args.runId)
  const runSpanId = spanId(`run:${args.runId}`)
  const start = run?.startedAt ?? crash?.startedAt ?? args.fallbackTimeMs
  const crashedRun = incident?.crashed ?? chain?.verdict === "crash_evidence"
  // A crashed run ends at its last evidence: the scan's placeholder summary ends when the scan found it.
  const end =
    crash && crashedRun
      ? lastEvidence(crash)
      : (run?.finishedAt ?? (crash ? lastEvidence(crash) : Math.max(start, args.fallbackTimeMs)))
  const model = modelAttributes(run?.model)
  const interrupted = chain !== undefined
  const crashed = crashedRun
  const interruptAt = run?.interrupt?.at ?? end
  const tools: readonly ToolFact[] = run?.tools ?? crash?.tools ?? []
  // Named missing only when the chain says so: a file read without its records still had a summary.
  const missingSummary = chain?.links.some((link) => link.hop === "run_summary" && link.status === "missing") ?? false
  add({
    traceId,
    spanId: runSpanId,
    name: "invoke_agent",
    kind: "internal",
    startMs: start,
    endMs: Math.max(start, end),
    attributes: {
      [GEN_AI.operationName]: "invoke_agent",
      ...model,
      [GEN_AI.conversationId]: args.sessionId,
      "app.run.id": args.runId,
      "app.classification": chain?.classification ?? run?.classification ?? "completed",
      ...(run ? { "app.run.visible_output": run.visibleOutput, "app.run.output_chunks": run.provider.chunks } : {}),
      ...(run?.toolsDropped ? { "app.run.tools_dropped": run.toolsDropped } : {}),
      ...(crashed ? { "error.type": "crash" } : interrupted ? { "error.type": "cancelled" } : {}),
      ...(missingSummary ? { "app.provenance.missing": ["run_summary"] } : {}),
      ...(run?.error ? { "app.error.code": run.error.code, "app.error.class": run.error.class } : {}),
    },
    status: interrupted ? { code: "error", message: chain.classification } : { code: "unset" },
    events:
      interrupted && !crashed
        ? [
            {
              name: "run.interrupted",
              timeMs: Math.min(Math.max(interruptAt, start), Math.max(start, end)),
              attributes: { "app.classification": chain.classification, "app.verdict": chain.verdict },
            },
          ]
        : [],
    links: incident
      ? [
          {
            traceId: incident.traceId,
            spanId: incident.spanId,
            attributes: { "app.link": crashed ? "crash_scan" : "interrupt" },
          },
        ]
      : [],
  })
  for (const tool of tools) {
    const toolStart = Math.max(start, tool.startedAt)
    const failed = tool.status === "error" || tool.status === "interrupted"
    add({
      traceId,
      spanId: spanId(`tool:${args.runId}:${tool.callId}`),
      parentSpanId: runSpanId,
      name: `execute_tool ${tool.name}`,
      kind: "internal",
      startMs: toolStart,
      endMs: Math.max(toolStart, tool.completedAt ?? end),
      attributes: {
        [GEN_AI.operationName]: "execute_tool",
        [GEN_AI.toolName]: tool.name,
        [GEN_AI.toolCallId]: tool.callId,
        "app.tool.kind": tool.kind,
        "app.tool.status": tool.status,
      },
      status: failed ? { code: "error", message: tool.status } : { code: "unset" },
      events: [],
      links: [],
    })
  }
}
