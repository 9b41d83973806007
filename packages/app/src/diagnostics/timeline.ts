/**
 * The incident timeline: one lane per hop (renderer, request, lifecycle, run), time on x,
 * arrows for causal links. `buildTimelineModel` is pure (records in, marks, links and callouts
 * out) and does all layout once; `renderTimeline` joins the model to the SVG with d3 in one
 * pass, so a chain of thousands of records costs one layout and no per-frame work.
 *
 * Renderer marks sit at the server time of their first request when one is linked: renderer
 * clocks are shown as reported, never used to place or order anything against server records.
 */
import { scaleLinear, select } from "d3"
import type { ClientAction, CrashEvidence, IncidentChain, LifecycleAction, RequestContext, RunSummary } from "opencode/provenance/schemas"
import { laneOfMissing } from "./verdict-words.ts"

export const LANES = ["renderer", "request", "lifecycle", "run"] as const
export type Lane = (typeof LANES)[number]

export const LANE_TITLES: Record<Lane, string> = {
  renderer: "Renderer",
  request: "Request",
  lifecycle: "Lifecycle",
  run: "Run",
}

export interface DiagnosticsRecords {
  runs: RunSummary[]
  lifecycle: LifecycleAction[]
  requests: RequestContext[]
  renderer: ClientAction[]
  crashes: CrashEvidence[]
}

export type MarkKind = "action" | "request" | "lifecycle" | "run" | "crash"

export interface Mark {
  id: string
  lane: Lane
  kind: MarkKind
  start: number
  end: number
  row: number
  label: string
  fields: [string, string][]
  onChain: boolean
  /** A lifecycle action that also asked to stop the chain's run after its cause did. */
  alsoRequested: boolean
  /** A child lifecycle action (`dispose_all → dispose_directory`). */
  child: boolean
  /** The run's classification, for run marks. */
  classification?: string
}

export type LinkKind = "cause" | "parent" | "also" | "occasion" | "possible"

export interface Link {
  from: string
  to: string
  kind: LinkKind
  onChain: boolean
}

export interface Callout {
  id: string
  lane: Lane
  at: number
  /** The missing fields, by name. */
  fields: string[]
  status: "missing" | "not_recorded_by_writer"
  /** Its row among the lane's callouts, below the lane's marks. */
  slot: number
}

export interface TimelineModel {
  marks: Mark[]
  links: Link[]
  callouts: Callout[]
  rows: Record<Lane, number>
  t0: number
  t1: number
}

/** Rows per lane before overlapping marks share a row. */
export const MAX_ROWS = 6

/**
 * @example buildTimelineModel(records, chain).marks.filter((mark) => mark.onChain)
 */
export function buildTimelineModel(records: DiagnosticsRecords, chain?: IncidentChain): TimelineModel {
  const marks: Mark[] = []
  const links: Link[] = []
  const chainIds = chainMarkIds(chain)
  const also = new Set((chain?.alsoRequestedBy ?? []).flatMap((item) => (item.lifecycleId ? [`lc:${item.lifecycleId}`] : [])))

  const firstRequestTime = new Map<string, number>()
  for (const request of records.requests) {
    if (!request.actionId) continue
    const known = firstRequestTime.get(request.actionId)
    if (known === undefined || request.time < known) firstRequestTime.set(request.actionId, request.time)
  }
  const markIds = new Set<string>()
  const push = (mark: Omit<Mark, "row" | "onChain" | "alsoRequested" | "child"> & Partial<Pick<Mark, "child">>) => {
    if (markIds.has(mark.id)) return
    markIds.add(mark.id)
    marks.push({ row: 0, onChain: chainIds.has(mark.id), alsoRequested: also.has(mark.id), child: false, ...mark })
  }

  for (const action of records.renderer) {
    const at = firstRequestTime.get(action.actionId) ?? action.time
    push({
      id: `act:${action.actionId}`,
      lane: "renderer",
      kind: "action",
      start: at,
      end: at,
      label: action.name,
      fields: [
        ["action", action.actionId],
        ["name", action.name],
        ["page", action.page],
        ["time (client-reported)", new Date(action.time).toISOString()],
        ["outcome", action.outcome],
        ["requests", action.requestIds.join(", ") || "none"],
      ],
    })
  }
  // An action whose log record was never uploaded (or was evicted) is still known from its
  // request's headers: drawn from them, and labelled as such.
  for (const request of records.requests) {
    if (!request.actionId || markIds.has(`act:${request.actionId}`)) continue
    push({
      id: `act:${request.actionId}`,
      lane: "renderer",
      kind: "action",
      start: firstRequestTime.get(request.actionId) ?? request.time,
      end: firstRequestTime.get(request.actionId) ?? request.time,
      label: request.actionName ?? request.actionId,
      fields: compact([
        ["action", request.actionId],
        ["name", request.actionName],
        ["source", "the request's headers (client-reported); no uploaded action record"],
      ]),
    })
  }
  for (const request of records.requests) {
    push({
      id: `req:${request.requestId}`,
      lane: "request",
      kind: "request",
      start: request.time,
      end: request.time + (request.durationMs ?? 0),
      label: `${request.method} ${request.route}`,
      fields: compact([
        ["request", request.requestId],
        ["seq", String(request.seq)],
        ["route", `${request.method} ${request.route}`],
        ["client", `${request.clientKind}${request.clientVersion ? ` ${request.clientVersion}` : ""}`],
        ["action", request.actionId ? `${request.actionName ?? ""} ${request.actionId}`.trim() : `(${request.actionHeader})`],
        ["status", request.status !== undefined ? String(request.status) : undefined],
        ["duration", request.durationMs !== undefined ? `${Math.round(request.durationMs)} ms` : undefined],
      ]),
    })
    if (request.actionId) links.push({ from: `act:${request.actionId}`, to: `req:${request.requestId}`, kind: "cause", onChain: false })
  }
  for (const action of records.lifecycle) {
    const id = `lc:${action.lifecycleId}`
    push({
      id,
      lane: "lifecycle",
      kind: "lifecycle",
      start: action.startedAt,
      end: action.finishedAt ?? action.startedAt,
      label: action.operation,
      child: action.parentId !== undefined,
      fields: compact([
        ["lifecycle", action.lifecycleId],
        ["seq", String(action.seq)],
        ["operation", action.operation === action.rootOperation ? action.operation : `${action.operation} (root: ${action.rootOperation})`],
        ["parent", action.parentId],
        ["origin", action.origin.kind],
        ["provenance", action.origin.provenance.complete ? "complete" : `missing ${action.origin.provenance.missing.join(", ")}`],
        ["directories", String(action.directoryCount)],
        ["runs closed", String(action.runIds.length)],
        ["finished", action.finishedAt !== undefined ? new Date(action.finishedAt).toISOString() : "not recorded"],
      ]),
    })
    if (action.parentId) links.push({ from: `lc:${action.parentId}`, to: id, kind: "parent", onChain: false })
    const origin = action.origin
    if (origin.kind === "api_route" && origin.request) links.push({ from: `req:${origin.request.requestId}`, to: id, kind: "cause", onChain: false })
    if (origin.kind === "config_invalidation" && origin.request) links.push({ from: `req:${origin.request.requestId}`, to: id, kind: "cause", onChain: false })
    if (origin.kind === "context_mismatch" && origin.detectedDuring) links.push({ from: `req:${origin.detectedDuring.requestId}`, to: id, kind: "occasion", onChain: false })
    for (const runId of action.runIds) links.push({ from: id, to: `run:${runId}`, kind: "cause", onChain: false })
  }
  for (const run of records.runs) {
    const id = `run:${run.runId}`
    push({
      id,
      lane: "run",
      kind: "run",
      start: run.startedAt,
      end: run.finishedAt,
      label: run.classification,
      classification: run.classification,
      fields: compact([
        ["run", run.runId],
        ["classification", run.classification],
        ["model", run.model],
        ["phase", run.interrupt?.phase],
        ["visible output", run.visibleOutput ? "yes" : "no"],
        ["tools", run.tools.map((tool) => `${tool.name} (${tool.kind}, ${tool.status})`).join(", ") || "none"],
        ["retry", `${String(run.retry.safe)} (${run.retry.basis.join(", ")})`],
        ["missing", run.missing.length > 0 ? run.missing.join(", ") : undefined],
      ]),
    })
    const lifecycleId = run.interrupt?.lifecycle?.lifecycleId
    if (lifecycleId) links.push({ from: `lc:${lifecycleId}`, to: id, kind: "cause", onChain: false })
    for (const other of run.alsoRequestedBy) {
      if (other.lifecycleId && other.lifecycleId !== lifecycleId) links.push({ from: `lc:${other.lifecycleId}`, to: id, kind: "also", onChain: false })
    }
  }
  for (const crash of records.crashes) {
    const id = `crash:${crash.runId}`
    push({
      id,
      lane: "run",
      kind: "crash",
      start: crash.startedAt,
      end: crash.lastHeartbeatAt ?? crash.startedAt,
      label: "process exit",
      fields: compact([
        ["run", crash.runId],
        ["evidence", "process ended without finalizing the run"],
        ["boot", crash.bootId],
        ["last heartbeat", crash.lastHeartbeatAt !== undefined ? new Date(crash.lastHeartbeatAt).toISOString() : "none"],
        ["detected", new Date(crash.detectedAt).toISOString()],
        ["abort requested by", crash.abortRequested?.lifecycleId],
        ["possible cause (unconfirmed)", crash.possibleCause ? `${crash.possibleCause.operation} ${crash.possibleCause.lifecycleId}` : undefined],
      ]),
    })
    if (crash.abortRequested) links.push({ from: `lc:${crash.abortRequested.lifecycleId}`, to: id, kind: "cause", onChain: false })
    else if (crash.possibleCause) links.push({ from: `lc:${crash.possibleCause.lifecycleId}`, to: id, kind: "possible", onChain: false })
  }

  // Keep links whose ends both exist, once each; mark the chain's own path.
  const seen = new Set<string>()
  const kept = links.filter((link) => {
    const key = `${link.from}>${link.to}>${link.kind}`
    if (seen.has(key) || !markIds.has(link.from) || !markIds.has(link.to)) return false
    seen.add(key)
    link.onChain = chainIds.has(link.from) && chainIds.has(link.to) && link.kind !== "also" && link.kind !== "possible"
    return true
  })

  const rows = assignRows(marks)
  const times = marks.flatMap((mark) => [mark.start, mark.end])
  let t0 = times.length > 0 ? Math.min(...times) : 0
  let t1 = times.length > 0 ? Math.max(...times) : 1
  if (t1 <= t0) {
    t0 -= 500
    t1 += 500
  }
  const callouts = chain ? calloutsFor(chain, marks, t0, t1) : []
  return { marks, links: kept, callouts, rows, t0, t1 }
}

/** The mark ids on a chain's own path: its run, lifecycle path, request and renderer action. */
function chainMarkIds(chain: IncidentChain | undefined): Set<string> {
  const ids = new Set<string>()
  if (!chain) return ids
  ids.add(`run:${chain.runId}`)
  ids.add(`crash:${chain.runId}`)
  for (const step of chain.lifecyclePath ?? []) ids.add(`lc:${step.lifecycleId}`)
  if (chain.lifecycleId) ids.add(`lc:${chain.lifecycleId}`)
  for (const link of chain.links) {
    if (link.status !== "present" || !link.ref) continue
    if (link.hop === "renderer") ids.add(`act:${link.ref}`)
    if (link.hop === "request") ids.add(`req:${link.ref}`)
  }
  return ids
}

/** Greedy interval packing per lane: O(n log n), done once. */
function assignRows(marks: Mark[]): Record<Lane, number> {
  const rows: Record<Lane, number> = { renderer: 1, request: 1, lifecycle: 1, run: 1 }
  for (const lane of LANES) {
    const inLane = marks.filter((mark) => mark.lane === lane).sort((a, b) => a.start - b.start || a.end - b.end)
    const rowEnds: number[] = []
    const span = inLane.length > 0 ? Math.max(1, inLane[inLane.length - 1]!.end - inLane[0]!.start) : 1
    // Marks closer than this read as overlapping at any sensible width.
    const gap = span / 200
    let next = 0
    for (const mark of inLane) {
      let row = rowEnds.findIndex((end) => end + gap <= mark.start)
      if (row < 0 && rowEnds.length < MAX_ROWS) row = rowEnds.length
      if (row < 0) row = next++ % MAX_ROWS
      rowEnds[row] = Math.max(rowEnds[row] ?? -Infinity, mark.end)
      mark.row = row
    }
    rows[lane] = Math.max(1, rowEnds.length)
  }
  return rows
}

/** One dashed callout per lane in which the chain is missing a hop or a field. */
function calloutsFor(chain: IncidentChain, marks: Mark[], t0: number, t1: number): Callout[] {
  const run = marks.find((mark) => mark.id === `run:${chain.runId}` || mark.id === `crash:${chain.runId}`)
  const at = run ? run.start : (t0 + t1) / 2
  const byKey = new Map<string, Callout>()
  const add = (lane: Lane, field: string, status: Callout["status"]) => {
    const id = `${lane}:${status}`
    const existing = byKey.get(id)
    if (existing) {
      if (!existing.fields.includes(field)) existing.fields.push(field)
      return
    }
    const slot = [...byKey.values()].filter((callout) => callout.lane === lane).length
    byKey.set(id, { id, lane, at, fields: [field], status, slot })
  }
  for (const name of chain.missing) add(laneOfMissing(name), name, "missing")
  const hopLane: Record<string, Lane> = { renderer: "renderer", request: "request", lifecycle: "lifecycle", interrupt: "run", run_summary: "run" }
  const hopName: Record<string, string> = { renderer: "renderer_action", request: "origin.request", lifecycle: "lifecycle_action", interrupt: "interrupt_meta", run_summary: "run_summary" }
  for (const link of chain.links) {
    if (link.status === "missing") add(hopLane[link.hop]!, hopName[link.hop]!, "missing")
    if (link.status === "not_recorded_by_writer") add(hopLane[link.hop]!, hopName[link.hop]!, "not_recorded_by_writer")
  }
  return [...byKey.values()]
}

function compact(fields: [string, string | undefined][]): [string, string][] {
  return fields.filter((field): field is [string, string] => field[1] !== undefined && field[1] !== "")
}

/**
 * The time window around a chain's stop: from its first initiating hop to the end of its run,
 * padded. A run can last minutes while the hops that stopped it take milliseconds; this is the
 * window in which they can be told apart. Undefined when the chain has no such hop.
 */
export function focusDomain(model: TimelineModel): [number, number] | undefined {
  const hops = model.marks.filter((mark) => mark.onChain && mark.lane !== "run")
  const runs = model.marks.filter((mark) => mark.onChain && mark.lane === "run")
  if (hops.length === 0) return undefined
  const start = Math.min(...hops.map((mark) => mark.start))
  const end = Math.max(...hops.map((mark) => mark.end), ...runs.map((mark) => mark.end))
  const pad = Math.max(100, (end - start) * 0.15)
  const domain: [number, number] = [Math.max(model.t0, start - pad), Math.min(model.t1, end + pad)]
  return domain[1] - domain[0] < (model.t1 - model.t0) * 0.8 ? domain : undefined
}

export interface RenderOptions {
  width: number
  /** The time window to draw; marks outside it are clamped to its edges. Default: the whole model. */
  domain?: [number, number]
  /** Called when a mark gains focus or the pointer; the panel shows its fields. */
  onSelect?: (mark: Mark | undefined) => void
}

export const LANE_LABEL_WIDTH = 92
const ROW_HEIGHT = 18
const LANE_PADDING = 10
const AXIS_HEIGHT = 22

/** Lays out the lanes vertically; returns each lane's top and the total height. */
export function laneGeometry(model: TimelineModel): { top: Record<Lane, number>; height: number } {
  const top = {} as Record<Lane, number>
  let y = AXIS_HEIGHT
  for (const lane of LANES) {
    top[lane] = y
    // One extra row per callout in the lane.
    y += LANE_PADDING * 2 + (model.rows[lane] + model.callouts.filter((callout) => callout.lane === lane).length) * ROW_HEIGHT
  }
  return { top, height: y + 4 }
}

/**
 * Draws the model into `svg` with one d3 join per layer; the marks are focusable
 * (`tabindex="0"`) and labelled, so keyboard users can step through them.
 */
export function renderTimeline(svgElement: SVGSVGElement, model: TimelineModel, options: RenderOptions): void {
  const width = Math.max(320, options.width)
  const { top, height } = laneGeometry(model)
  const domain = options.domain ?? [model.t0, model.t1]
  const x = scaleLinear().domain(domain).range([LANE_LABEL_WIDTH + 8, width - 12]).clamp(true)
  const svg = select(svgElement).attr("viewBox", `0 0 ${width} ${height}`).attr("width", width).attr("height", height)
  svg.selectAll("*").remove()

  const defs = svg.append("defs")
  for (const kind of ["cause", "chain", "also"] as const) {
    defs
      .append("marker")
      .attr("id", `arrow-${kind}`)
      .attr("viewBox", "0 0 10 10")
      .attr("refX", 9)
      .attr("refY", 5)
      .attr("markerWidth", 6)
      .attr("markerHeight", 6)
      .attr("orient", "auto-start-reverse")
      .append("path")
      .attr("d", "M0,0L10,5L0,10z")
      .attr("class", `arrowhead arrowhead-${kind}`)
  }

  const laneGroup = svg.append("g").attr("class", "lanes")
  laneGroup
    .selectAll("g")
    .data(LANES)
    .join("g")
    .attr("class", (lane) => `lane lane-${lane}`)
    .attr("data-lane", (lane) => lane)
    .each(function (lane, index) {
      const g = select(this)
      const laneHeight = (index + 1 < LANES.length ? top[LANES[index + 1]!] : height - 4) - top[lane]
      g.append("rect").attr("class", "lane-bg").attr("x", 0).attr("y", top[lane]).attr("width", width).attr("height", laneHeight)
      g.append("text").attr("class", "lane-title").attr("x", 6).attr("y", top[lane] + LANE_PADDING + 12).text(LANE_TITLES[lane])
    })

  const ticks = x.ticks(Math.max(2, Math.floor(width / 140)))
  svg
    .append("g")
    .attr("class", "axis")
    .selectAll("text")
    .data(ticks)
    .join("text")
    .attr("x", (t) => x(t))
    .attr("y", 14)
    .attr("text-anchor", "middle")
    .text((t) => `${((t - model.t0) / 1000).toFixed(domain[1] - domain[0] < 10_000 ? 2 : 1)} s`)

  const y = (mark: Pick<Mark, "lane" | "row">) => top[mark.lane] + LANE_PADDING + mark.row * ROW_HEIGHT + ROW_HEIGHT / 2
  // In a narrowed window, marks wholly outside it are left out rather than piled at its edges.
  const shown = options.domain ? model.marks.filter((mark) => mark.end >= domain[0] && mark.start <= domain[1]) : model.marks
  const byId = new Map(shown.map((mark) => [mark.id, mark]))
  const shownLinks = options.domain ? model.links.filter((link) => byId.has(link.from) && byId.has(link.to)) : model.links
  const xStart = (mark: Mark) => x(mark.start)
  const xEnd = (mark: Mark) => Math.max(x(mark.end), x(mark.start) + 6)

  svg
    .append("g")
    .attr("class", "links")
    .selectAll("path")
    .data(shownLinks)
    .join("path")
    .attr("class", (link) => `link link-${link.kind}${link.onChain ? " on-chain" : ""}`)
    .attr("d", (link) => {
      const from = byId.get(link.from)!
      const to = byId.get(link.to)!
      // A link into a long bar (a run stopped mid-way) drops straight down where the cause happened.
      const landing = link.kind !== "parent" && to.end > to.start && from.start > to.start
      const x1 = link.kind === "parent" ? xStart(from) + 3 : landing ? (xStart(from) + xEnd(from)) / 2 : Math.min(xEnd(from), xStart(to))
      const y1 = y(from)
      const x2 = landing ? Math.min(Math.max(x1, xStart(to)), xEnd(to)) : xStart(to)
      const y2 = y(to)
      const mid = (y1 + y2) / 2
      return `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2 - (y2 > y1 ? 6 : -6)}`
    })
    .attr("marker-end", (link) => `url(#arrow-${link.onChain ? "chain" : link.kind === "also" || link.kind === "possible" ? "also" : "cause"})`)

  const marks = svg
    .append("g")
    .attr("class", "marks")
    .selectAll<SVGGElement, Mark>("g")
    .data(shown, (mark) => mark.id)
    .join("g")
    .attr("class", (mark) =>
      ["mark", `mark-${mark.kind}`, mark.onChain ? "on-chain" : "", mark.alsoRequested ? "also-requested" : "", mark.child ? "child" : "", mark.classification === "completed" ? "completed" : ""]
        .filter(Boolean)
        .join(" "),
    )
    .attr("data-mark", (mark) => mark.id)
    .attr("tabindex", 0)
    .attr("role", "img")
    .attr("aria-label", (mark) => `${LANE_TITLES[mark.lane]}: ${mark.label}${mark.alsoRequested ? ", also requested" : ""}. ${mark.fields.map(([key, value]) => `${key} ${value}`).join("; ")}`)
    .on("focus mouseenter", (_event, mark) => options.onSelect?.(mark))

  marks
    .append("rect")
    .attr("x", (mark) => xStart(mark))
    .attr("y", (mark) => y(mark) - 6 - (mark.child ? -2 : 0))
    .attr("width", (mark) => xEnd(mark) - xStart(mark))
    .attr("height", (mark) => (mark.child ? 8 : 12))
    .attr("rx", (mark) => (mark.kind === "action" || mark.kind === "request" ? 6 : 2))
  marks
    .filter((mark) => mark.kind === "crash")
    .append("path")
    .attr("class", "crash-x")
    .attr("d", (mark) => {
      const cx = xEnd(mark)
      const cy = y(mark)
      return `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx - 5},${cy + 5}L${cx + 5},${cy - 5}`
    })
  marks
    .filter((mark) => mark.onChain || mark.alsoRequested || shown.length <= 60)
    .append("text")
    .attr("x", (mark) => (xStart(mark) > width * 0.75 ? xEnd(mark) : xStart(mark) + 2))
    .attr("text-anchor", (mark) => (xStart(mark) > width * 0.75 ? "end" : "start"))
    .attr("y", (mark) => y(mark) - 8)
    .text((mark) => (mark.alsoRequested ? `${mark.label} (also requested)` : mark.label))

  const callouts = svg
    .append("g")
    .attr("class", "callouts")
    .selectAll<SVGGElement, Callout>("g")
    .data(model.callouts, (callout) => callout.id)
    .join("g")
    .attr("class", (callout) => `callout callout-${callout.status}`)
    .attr("data-testid", "missing-callout")
    .attr("tabindex", 0)
    .attr("role", "img")
    .attr("aria-label", (callout) => `${LANE_TITLES[callout.lane]} lane: ${callout.status === "missing" ? "missing" : "not recorded by the writer"}: ${callout.fields.join(", ")}`)
  const calloutY = (callout: Callout) => top[callout.lane] + LANE_PADDING + (model.rows[callout.lane] + callout.slot) * ROW_HEIGHT
  const calloutText = (callout: Callout) => `${callout.status === "missing" ? "missing" : "not recorded"}: ${callout.fields.join(", ")}`
  callouts
    .append("rect")
    .attr("x", (callout) => Math.min(x(callout.at), width - 12 - textWidth(calloutText(callout))))
    .attr("y", (callout) => calloutY(callout))
    .attr("width", (callout) => textWidth(calloutText(callout)))
    .attr("height", ROW_HEIGHT - 2)
    .attr("rx", 3)
  callouts
    .append("text")
    .attr("x", (callout) => Math.min(x(callout.at), width - 12 - textWidth(calloutText(callout))) + 5)
    .attr("y", (callout) => calloutY(callout) + 12)
    .text(calloutText)
}

/** An estimate, so callout boxes need no DOM measurement (and no re-layout). */
function textWidth(text: string): number {
  return Math.ceil(text.length * 6.4) + 10
}
