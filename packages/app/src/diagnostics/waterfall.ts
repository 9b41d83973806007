/**
 * The waterfall's layout model, pure: one row per hop of the chain, indented parent → child
 * (the click → its request → the config change or the close → its child closes → the run), each
 * with its name and duration; the run's row carries its output, tool and heartbeat ticks; a crash
 * is drawn as "last evidence, then unknown until restart"; a long quiet stretch becomes a broken
 * axis instead of squeezing the stop against an edge. `waterfall-render.ts` draws it with d3.
 */
import { type IncidentChain, Origin } from "opencode/provenance"
import type { DiagnosticsRecords } from "./export-data.ts"
import { actionWords, HANDLER_WORDS, MISMATCH_WORDS, missingWords, operationTitle, SIGNAL_WORDS } from "./glossary.ts"
import { ROW_ID } from "./history-source.ts"
import { clockMs, configChangeClause, duration, lastEvidenceAt, reach, runFacts, type StoryContext } from "./story.ts"

type RowKind = "action" | "request" | "change" | "lifecycle" | "run" | "restart" | "missing"
export type TickKind = "output" | "tool-start" | "tool-done" | "heartbeat" | "stop"

interface Tick {
  at: number
  kind: TickKind
  label: string
}

export interface WaterfallRow {
  id: string
  kind: RowKind
  depth: number
  name: string
  start: number
  end: number
  /** "" for an instant. */
  durationText: string
  ticks: Tick[]
  /** A stretch nothing was recorded in (a crash: from the last evidence to the restart). */
  unknown?: [number, number]
  /** A close that also asked to stop the run after the cause did. */
  also?: boolean
  /** A lost run's possible cause: not a confirmed one, so not on the cause path. */
  possible?: boolean
  /** Ids and fields, for the details box and screen readers. */
  fields: [string, string][]
}

interface WaterfallLink {
  from: string
  to: string
  /** Where on the time axis the arrow lands. */
  at: number
  dashed?: boolean
}

/** A stretch of the time axis that is drawn; between two segments the axis is broken. */
interface Segment {
  from: number
  to: number
}

export interface WaterfallModel {
  rows: WaterfallRow[]
  links: WaterfallLink[]
  segments: Segment[]
  /** Wall-clock start of the axis (its 0). */
  t0: number
  t1: number
}

/** A gap this much longer than everything else is cut out of the axis. */
const BREAK_SHARE = 0.5
const BREAK_MIN_MS = 2_000

export function buildWaterfall(
  chain: IncidentChain,
  records: DiagnosticsRecords,
  context: StoryContext = {},
): WaterfallModel {
  const rows: WaterfallRow[] = []
  const links: WaterfallLink[] = []
  const isOwn = context.isOwnAction ?? (() => false)
  const facts = runFacts(chain, records)
  const parsed = Origin.safeParse(chain.origin)
  const origin = parsed.success ? parsed.data : undefined
  let depth = 0
  let previous: WaterfallRow | undefined
  const push = (
    row: Omit<WaterfallRow, "depth" | "durationText" | "ticks"> & Partial<Pick<WaterfallRow, "ticks">>,
    options: { sameDepth?: boolean } = {},
  ) => {
    const full: WaterfallRow = {
      ticks: [],
      ...row,
      depth: options.sameDepth ? Math.max(0, depth - 1) : depth,
      durationText: row.end > row.start ? duration(row.end - row.start) : "",
    }
    rows.push(full)
    // A possible cause is not a confirmed one: its arrow is dashed, like a close that also asked.
    if (previous)
      links.push({ from: previous.id, to: full.id, at: full.start, ...(previous.possible ? { dashed: true } : {}) })
    previous = full
    if (!options.sameDepth) depth++
    return full
  }
  const missingRow = (field: string) =>
    push({
      id: ROW_ID.missing(field),
      kind: "missing",
      name: `Not recorded: ${missingWords(field)}`,
      start: NaN,
      end: NaN,
      fields: [["missing", missingWords(field)]],
    })

  const lifecyclePath =
    chain.lifecyclePath && chain.lifecyclePath.length > 0
      ? chain.lifecyclePath
      : chain.lifecycleId
        ? [{ lifecycleId: chain.lifecycleId, operation: chain.operation ?? "reload" }]
        : []
  const firstLifecycle = lifecyclePath[0]
    ? records.lifecycle.find((item) => item.lifecycleId === lifecyclePath[0]!.lifecycleId)
    : undefined

  // The initiator: a click and its request, a file change, a signal, the watchdog, the remote.
  const request = origin?.kind === "api_route" || origin?.kind === "config_invalidation" ? origin.request : undefined
  const requestRecord = request ? records.requests.find((item) => item.requestId === request.requestId) : undefined
  if (request) {
    const at = requestRecord?.time ?? firstLifecycle?.startedAt ?? NaN
    if (request.actionId) {
      const label = actionWords(request.actionName)
      push({
        id: ROW_ID.action(request.actionId),
        kind: "action",
        name: isOwn(request.actionId) ? `You clicked ${label}` : `${label} clicked in another app window`,
        start: at,
        end: at,
        fields: [["action", request.actionId]],
      })
    } else if (request.clientKind === "app") {
      missingRow("renderer_action")
    }
    const from = request.clientKind === "app" ? "the app" : "another program"
    push({
      id: ROW_ID.request(request.requestId),
      kind: "request",
      name: `Request from ${from}: ${request.method} ${request.route}`,
      start: at,
      end: at + (requestRecord?.durationMs ?? 0),
      fields: compact([
        ["request", request.requestId],
        ["answered", requestRecord?.status !== undefined ? String(requestRecord.status) : undefined],
      ]),
    })
  } else if (origin?.kind !== "context_mismatch" && chain.missing.includes("origin.request")) {
    // The initiator's request is a gap the chain names (an api_route's, or the request a config
    // save came through): drawn where the request would be. A mismatch's request is only the
    // occasion, drawn after the change with the other gaps below.
    missingRow("origin.request")
  }
  if (origin?.kind === "config_invalidation") {
    const at = firstLifecycle?.startedAt ?? NaN
    push({
      id: ROW_ID.configChange,
      kind: "change",
      // The same words as the headline and the event history: who wrote it, from the origin's facts.
      name: capitalize(configChangeClause(origin, isOwn)),
      start: at,
      end: at,
      fields: compact([["change", origin.change]]),
    })
  }
  if (origin?.kind === "context_mismatch") {
    const at = firstLifecycle?.startedAt ?? NaN
    push({
      id: ROW_ID.contextChange,
      kind: "change",
      name: capitalize(origin.reason ? MISMATCH_WORDS[origin.reason] : "Something about the project changed"),
      start: at,
      end: at,
      fields: compact([["reason", origin.reason]]),
    })
    const during = origin.detectedDuring
    if (during) {
      const record = records.requests.find((item) => item.requestId === during.requestId)
      const t = record?.time ?? at
      push({
        id: ROW_ID.request(during.requestId),
        kind: "request",
        name: `Noticed while loading the project for ${during.method} ${during.route}`,
        start: t,
        end: t + (record?.durationMs ?? 0),
        fields: [["request", during.requestId]],
      })
    }
  }
  if (origin?.kind === "shutdown") {
    const at = firstLifecycle?.startedAt ?? NaN
    push({
      id: ROW_ID.signal,
      kind: "change",
      name: `Server ${origin.signal ? SIGNAL_WORDS[origin.signal] : "shut down"}`,
      start: at,
      end: at,
      fields: compact([["signal", origin.signal]]),
    })
  }
  if (origin?.kind === "server_handler") {
    const summary = facts?.summary
    const at = summary?.watchdog.firedAt ?? summary?.interrupt?.at ?? NaN
    const after = summary?.watchdog.timeoutMs ? ` after ${duration(summary.watchdog.timeoutMs)} without progress` : ""
    push({
      id: ROW_ID.handler,
      kind: "change",
      name: `${capitalize(HANDLER_WORDS[origin.handler ?? ""] ?? "The server")} fired${origin.handler === "watchdog" ? after : ""}`,
      start: at,
      end: at,
      fields: compact([["handler", origin.handler]]),
    })
  }
  if (origin?.kind === "forwarded_remote") {
    const at = facts?.summary?.interrupt?.at ?? facts?.summary?.finishedAt ?? NaN
    push({
      id: ROW_ID.remote,
      kind: "change",
      name: `Remote workspace ${origin.workspaceId ?? ""} ended the run`.replace("  ", " "),
      start: at,
      end: at,
      fields: compact([["workspace", origin.workspaceId]]),
    })
  }

  // The close, and each child close it started.
  for (const step of lifecyclePath) {
    const action = records.lifecycle.find((item) => item.lifecycleId === step.lifecycleId)
    const start = action?.startedAt ?? NaN
    const scope = action && action.operation === "dispose_all" ? reach(action, records) : undefined
    const name = scope
      ? `${operationTitle(step.operation)}: ${scope.directories} project${scope.directories === 1 ? "" : "s"}, ${scope.runs} run${scope.runs === 1 ? "" : "s"}`
      : operationTitle(step.operation)
    push({
      id: ROW_ID.lifecycle(step.lifecycleId),
      kind: "lifecycle",
      name,
      start,
      end: action?.finishedAt ?? start,
      fields: compact([
        ["lifecycle", step.lifecycleId],
        ["finished", action?.finishedAt === undefined ? "not recorded" : undefined],
      ]),
    })
  }
  // Every other gap the chain names, each drawn once (the initiator's were drawn above).
  for (const field of chain.missing) {
    if (rows.some((row) => row.id === ROW_ID.missing(field))) continue
    missingRow(field)
  }
  if (chain.verdict === "crash_evidence" && chain.possibleCause) {
    const action = records.lifecycle.find((item) => item.lifecycleId === chain.possibleCause!.lifecycleId)
    if (action)
      push({
        id: ROW_ID.lifecycle(action.lifecycleId),
        kind: "lifecycle",
        name: `Possible cause, not confirmed: ${operationTitle(action.operation).toLowerCase()}`,
        start: action.startedAt,
        end: action.finishedAt ?? action.startedAt,
        possible: true,
        fields: [["lifecycle", action.lifecycleId]],
      })
  }

  // The run itself, the deepest row.
  if (facts) {
    const summary = facts.summary
    const crash = facts.crash
    const ticks: Tick[] = []
    if (summary?.provider.firstOutputAt !== undefined)
      ticks.push({ at: summary.provider.firstOutputAt, kind: "output", label: "first output" })
    if (
      summary?.provider.lastOutputAt !== undefined &&
      summary.provider.lastOutputAt !== summary.provider.firstOutputAt
    )
      ticks.push({ at: summary.provider.lastOutputAt, kind: "output", label: "last output" })
    for (const tool of facts.tools) {
      ticks.push({ at: tool.startedAt, kind: "tool-start", label: `${tool.name} started` })
      if (tool.completedAt !== undefined)
        ticks.push({
          at: tool.completedAt,
          kind: "tool-done",
          label: `${tool.name} ${tool.status === "completed" ? "done" : tool.status}`,
        })
    }
    if (crash?.lastHeartbeatAt !== undefined)
      ticks.push({ at: crash.lastHeartbeatAt, kind: "heartbeat", label: "last heartbeat" })
    // A lost run had no stop signal: it ends at its last evidence, whatever summary the restart wrote.
    const stopAt = summary && !crash ? (summary.interrupt?.at ?? summary.finishedAt) : undefined
    if (stopAt !== undefined) ticks.push({ at: stopAt, kind: "stop", label: "stop signal" })
    const lastEvidence = lastEvidenceAt(facts)
    const end = lastEvidence ?? summary?.finishedAt ?? facts.startedAt
    const run = push({
      id: ROW_ID.run(chain.runId),
      kind: "run",
      name: `Run${summary?.model ? ` (${summary.model})` : ""}`,
      start: facts.startedAt,
      end,
      ticks,
      ...(crash ? { unknown: [end, crash.detectedAt] as [number, number] } : {}),
      fields: [["run", chain.runId]],
    })
    if (crash) {
      // The restart is its own node; nothing links it to the run as a cause.
      const at = crash.detectedAt
      rows.push({
        id: ROW_ID.restart,
        kind: "restart",
        depth: 0,
        name: "Server restarted; run found unfinished",
        start: at,
        end: at,
        durationText: "",
        ticks: [],
        fields: [["restart", "the run was found unfinished"]],
      })
    } else if (previous === run && links.length > 0) {
      links[links.length - 1]!.at = stopAt ?? run.end
    }
    for (const other of chain.alsoRequestedBy) {
      const action = other.lifecycleId
        ? records.lifecycle.find((item) => item.lifecycleId === other.lifecycleId)
        : undefined
      if (!action) continue
      rows.splice(rows.length - 1, 0, {
        id: ROW_ID.lifecycle(action.lifecycleId),
        kind: "lifecycle",
        depth: run.depth - 1,
        name: `Also asked to stop it: ${operationTitle(action.operation).toLowerCase()}`,
        start: action.startedAt,
        end: action.finishedAt ?? action.startedAt,
        durationText: action.finishedAt ? duration(action.finishedAt - action.startedAt) : "",
        ticks: [],
        also: true,
        fields: [["lifecycle", action.lifecycleId]],
      })
      links.push({ from: ROW_ID.lifecycle(action.lifecycleId), to: run.id, at: other.at, dashed: true })
    }
  }

  // Rows with no recorded time (a missing hop) sit at the stop, drawn as an outline.
  const axis = axisOf(rows)
  const anchor = causeAnchor(rows, axis.t1)
  for (const row of rows) {
    if (!Number.isFinite(row.start)) row.start = anchor
    if (!Number.isFinite(row.end)) row.end = row.start
  }
  for (const link of links) if (!Number.isFinite(link.at)) link.at = anchor
  return { rows, links, ...axis }
}

/** The axis over the rows' recorded times: its start, its end, and where it is broken. */
function axisOf(rows: WaterfallRow[]): Pick<WaterfallModel, "segments" | "t0" | "t1"> {
  const times = rows
    .flatMap((row) => [row.start, row.end, ...(row.unknown ?? []), ...row.ticks.map((tick) => tick.at)])
    .filter(Number.isFinite)
  const t0 = times.length > 0 ? Math.min(...times) : 0
  let t1 = times.length > 0 ? Math.max(...times) : 1
  if (t1 <= t0) t1 = t0 + 1_000
  return { segments: axisSegments(times.length > 0 ? times : [t0, t1], t0, t1), t0, t1 }
}

/** Whether a row is on the path from the cause to the stop (a gap on that path is). */
function onCausePath(row: WaterfallRow): boolean {
  return !row.also && !row.possible && row.kind !== "restart"
}

/**
 * The waterfall collapsed to the cause path: a close that also asked, a lost run's possible cause
 * and the restart that found it are left out, and the axis spans what is left.
 */
export function causePathOnly(model: WaterfallModel): WaterfallModel {
  const rows = model.rows.filter(onCausePath)
  const kept = new Set(rows.map((row) => row.id))
  return { rows, links: model.links.filter((link) => kept.has(link.from) && kept.has(link.to)), ...axisOf(rows) }
}

/**
 * A row's details, as the waterfall shows them when the row is expanded: its whole name, when it
 * happened (relative and on the clock), how long it took, its ids, the stretch nothing was
 * recorded in, and its ticks.
 */
export function rowDetails(row: WaterfallRow, t0: number): [string, string][] {
  const at = (t: number) => `+${((t - t0) / 1_000).toFixed(2)} s (${clockMs(t)})`
  const relative = (t: number) => `+${((t - t0) / 1_000).toFixed(2)} s`
  const out: [string, string][] = [["step", row.name]]
  if (row.kind !== "missing") out.push(["at", at(row.start)])
  if (row.durationText) out.push(["took", row.durationText])
  if (row.unknown)
    out.push([
      "unknown",
      `from ${relative(row.unknown[0])} to ${relative(row.unknown[1])}, until the server restarted at ${clockMs(row.unknown[1])}`,
    ])
  out.push(...row.fields)
  for (const tick of row.ticks) out.push([tick.label, at(tick.at)])
  return out
}

function causeAnchor(rows: WaterfallRow[], fallback: number): number {
  const known = rows.filter((row) => row.kind !== "run" && row.kind !== "restart" && Number.isFinite(row.start))
  if (known.length > 0) return Math.min(...known.map((row) => row.start))
  const run = rows.find((row) => row.kind === "run")
  return run ? (run.ticks.find((tick) => tick.kind === "stop")?.at ?? run.end) : fallback
}

/**
 * Cuts the longest quiet stretch out of the axis when it dominates the span: two segments, each
 * padded a little around its events. Otherwise one segment.
 *
 * @example axisSegments([0, 100, 60_000, 60_200], 0, 60_200) // [{ from: 0, to: ~… }, { from: ~…, to: 60_200 }]
 */
export function axisSegments(times: number[], t0: number, t1: number): Segment[] {
  const sorted = [...new Set(times)].sort((a, b) => a - b)
  let gapAt = -1
  let gap = 0
  for (let i = 1; i < sorted.length; i++) {
    const g = sorted[i]! - sorted[i - 1]!
    if (g > gap) {
      gap = g
      gapAt = i
    }
  }
  const span = t1 - t0
  if (gapAt < 0 || gap < BREAK_MIN_MS || gap < span * BREAK_SHARE) return [{ from: t0, to: t1 }]
  const leftEnd = sorted[gapAt - 1]!
  const rightStart = sorted[gapAt]!
  const padLeft = Math.max(100, (leftEnd - t0) * 0.1)
  const padRight = Math.max(100, (t1 - rightStart) * 0.1)
  return [
    { from: t0, to: Math.min(leftEnd + padLeft, leftEnd + gap / 4) },
    { from: Math.max(rightStart - padRight, rightStart - gap / 4), to: t1 },
  ]
}

interface AxisLayout {
  x(t: number): number
  /** Each segment's pixel range. */
  ranges: { segment: Segment; x0: number; x1: number }[]
  /** Where the axis is broken (pixel x of each break's middle). */
  breaks: number[]
}

const BREAK_GAP_PX = 16

/** Pixel positions along [x0, x1]; each segment gets at least a quarter of the width. */
export function axisLayout(segments: Segment[], x0: number, x1: number): AxisLayout {
  const usable = x1 - x0 - BREAK_GAP_PX * (segments.length - 1)
  const spans = segments.map((segment) => Math.max(1, segment.to - segment.from))
  const total = spans.reduce((a, b) => a + b, 0)
  const minShare = segments.length > 1 ? 0.25 : 1
  let shares = spans.map((span) => Math.max(minShare, span / total))
  const sum = shares.reduce((a, b) => a + b, 0)
  shares = shares.map((share) => share / sum)
  const ranges: AxisLayout["ranges"] = []
  let at = x0
  segments.forEach((segment, i) => {
    const width = usable * shares[i]!
    ranges.push({ segment, x0: at, x1: at + width })
    at += width + BREAK_GAP_PX
  })
  const breaks = ranges.slice(0, -1).map((range) => range.x1 + BREAK_GAP_PX / 2)
  const x = (t: number) => {
    for (const range of ranges) {
      if (t <= range.segment.to) {
        if (t < range.segment.from) return range === ranges[0] ? range.x0 : range.x0 - BREAK_GAP_PX / 2
        const span = range.segment.to - range.segment.from
        return span <= 0 ? range.x0 : range.x0 + ((t - range.segment.from) / span) * (range.x1 - range.x0)
      }
    }
    return ranges[ranges.length - 1]!.x1
  }
  return { x, ranges, breaks }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function compact(fields: [string, string | undefined][]): [string, string][] {
  return fields.filter((field): field is [string, string] => field[1] !== undefined && field[1] !== "")
}
