/**
 * Draws a `WaterfallModel` into an SVG with d3: a name column (indented parent → child, each
 * name with its duration), a time axis with round ticks relative to the wall-clock start, a
 * broken-axis marker where a long quiet stretch was cut out, one bar per row, the run's ticks,
 * a hatched "unknown" stretch for a crash, and arrows from each hop to the next. Names live in
 * their own column and are cut to fit, so labels never overlap whatever the width; a cut name is
 * drawn whole over the drawing while its row has the focus. A row is a button: a click, Enter or
 * Space expands its details in place, under it, and the rows below move down. Called again on
 * resize and on each expand; it redraws from scratch (a chain has a handful of rows) and keeps
 * the keyboard focus on the row that had it.
 */
import { scaleLinear, select, type Selection } from "d3"
import { cutText } from "opencode/provenance"
import { clockMs } from "./story.ts"
import { axisLayout, rowDetails, type TickKind, type WaterfallModel, type WaterfallRow } from "./waterfall.ts"

export const ROW_HEIGHT = 28
const HEADER_HEIGHT = 40
const CHAR_PX = 6.7
const INDENT_PX = 12
/** Space between two tick labels. */
const TICK_GAP_PX = 6
/** Half the width of a break's "//" mark on the axis. */
const BREAK_MARK_HALF_PX = 7
const UNKNOWN_LABEL = "unknown until restart"
const UNKNOWN_LABEL_SHORT = "unknown"
/** An expanded row's details: monospace lines, keys in a column of their own. */
const DETAIL_LINE_PX = 15
const DETAIL_PAD_PX = 6
const DETAIL_KEY_COLUMNS = 16
/** A cut name drawn whole: its lines. */
const FULL_LINE_PX = 16

interface WaterfallRenderOptions {
  width: number
  onSelect?: (row: WaterfallRow | undefined) => void
  /** Ids of the rows whose details are shown under them. */
  expanded?: ReadonlySet<string>
  /** A click, Enter or Space on a row: expand or collapse it. */
  onToggle?: (row: WaterfallRow) => void
  /** The pointer or the focus entering a row (the row) or leaving it (undefined). */
  onHover?: (row: WaterfallRow | undefined) => void
}

/** One line of an expanded row's details: the key on its first line only. */
interface DetailLine {
  key: string
  value: string
}

/**
 * Splits `text` into lines of at most `columns` characters, at spaces where it can (an id has
 * none, so it is cut where the line ends).
 *
 * @example wrapText("POST /instance/reload", 12) // ["POST", "/instance/re", "load"]
 */
function wrapText(text: string, columns: number): string[] {
  const max = Math.max(1, columns)
  const lines: string[] = []
  let line = ""
  for (const word of text.split(" ")) {
    let rest = word
    while (rest.length > 0) {
      const room = line ? max - line.length - 1 : max
      if (rest.length <= room) {
        line = line ? `${line} ${rest}` : rest
        rest = ""
      } else if (line) {
        lines.push(line)
        line = ""
      } else {
        lines.push(rest.slice(0, max))
        rest = rest.slice(max)
      }
    }
  }
  if (line || lines.length === 0) lines.push(line)
  return lines
}

/** An expanded row's details as lines that fit `px` pixels of monospace, and the keys' column. */
function detailLines(row: WaterfallRow, t0: number, px: number): { keyColumns: number; lines: DetailLine[] } {
  const details = rowDetails(row, t0)
  const keyColumns = Math.min(DETAIL_KEY_COLUMNS, Math.max(...details.map(([key]) => key.length))) + 2
  const columns = Math.floor(px / CHAR_PX)
  const lines: DetailLine[] = []
  for (const [key, value] of details) {
    // A key longer than its column gets a line of its own.
    const ownLine = key.length > keyColumns - 2
    if (ownLine) lines.push(...wrapText(key, columns).map((part, i) => ({ key: i === 0 ? part : "", value: "" })))
    wrapText(value, columns - keyColumns).forEach((part, i) =>
      lines.push({ key: i === 0 && !ownLine ? key : "", value: part }),
    )
  }
  return { keyColumns, lines }
}

/** Marks the rows drawn for `ids` as linked to what the pointer or the focus is on elsewhere. */
export function highlightRows(svgElement: SVGSVGElement, ids: ReadonlySet<string>): void {
  for (const row of Array.from(svgElement.querySelectorAll("g.wf-row")))
    row.classList.toggle("wf-linked", ids.has(row.getAttribute("data-row") ?? ""))
}

/** The name column's width: narrower on a phone. */
export function labelColumnWidth(width: number): number {
  return width < 600 ? Math.max(140, Math.min(190, Math.round(width * 0.48))) : Math.min(360, Math.round(width * 0.45))
}

/** Cuts `text` to about `px` pixels, with an ellipsis, between characters a person counts. */
export function fitText(text: string, px: number): string {
  const max = Math.floor(px / CHAR_PX)
  return max <= 1 && text.length > max ? "…" : cutText(text, max)
}

/** Relative tick labels (`+1.5 s`), with as many decimals as the step needs. */
function tickLabel(ms: number, step: number): string {
  const decimals = step >= 1_000 ? 0 : step >= 100 ? 1 : step >= 10 ? 2 : 3
  return `+${(ms / 1_000).toFixed(decimals)} s`
}

export function renderWaterfall(
  svgElement: SVGSVGElement,
  model: WaterfallModel,
  options: WaterfallRenderOptions,
): void {
  const width = Math.max(300, Math.floor(options.width))
  const labelWidth = labelColumnWidth(width)
  // Each expanded row's details take room under it; the rows below start lower.
  const detailX = 6
  const details = model.rows.map((row) =>
    options.expanded?.has(row.id) ? detailLines(row, model.t0, width - 2 * detailX - 2 * DETAIL_PAD_PX) : undefined,
  )
  const detailHeight = (i: number) => (details[i] ? details[i]!.lines.length * DETAIL_LINE_PX + 2 * DETAIL_PAD_PX : 0)
  const tops: number[] = []
  let bottom = HEADER_HEIGHT
  for (let i = 0; i < model.rows.length; i++) {
    tops.push(bottom)
    bottom += ROW_HEIGHT + detailHeight(i)
  }
  const height = bottom + 8
  const axis = axisLayout(model.segments, labelWidth + 10, width - 14)
  const x = axis.x
  const active = svgElement.ownerDocument?.activeElement
  const focusedId =
    active && svgElement.contains(active) ? active.closest("g.wf-row")?.getAttribute("data-row") : undefined
  const svg = select(svgElement).attr("viewBox", `0 0 ${width} ${height}`).attr("width", width).attr("height", height)
  svg.selectAll("*").remove()

  const defs = svg.append("defs")
  defs
    .append("pattern")
    .attr("id", "wf-hatch")
    .attr("patternUnits", "userSpaceOnUse")
    .attr("width", 6)
    .attr("height", 6)
    .attr("patternTransform", "rotate(45)")
    .append("rect")
    .attr("class", "hatch-line")
    .attr("width", 2)
    .attr("height", 6)
  defs
    .append("marker")
    .attr("id", "wf-arrow")
    .attr("viewBox", "0 0 10 10")
    .attr("refX", 9)
    .attr("refY", 5)
    .attr("markerWidth", 6)
    .attr("markerHeight", 6)
    .attr("orient", "auto-start-reverse")
    .append("path")
    .attr("class", "arrowhead")
    .attr("d", "M0,0L10,5L0,10z")

  // Header: the wall-clock start, then round ticks per segment, labels never closer than 48 px.
  svg
    .append("text")
    .attr("class", "wf-start")
    .attr("x", 6)
    .attr("y", 16)
    .text(`Start ${clockMs(model.t0)}`)
  const ticks: { x: number; label: string }[] = []
  for (const range of axis.ranges) {
    const relative = scaleLinear()
      .domain([range.segment.from - model.t0, range.segment.to - model.t0])
      .range([range.x0, range.x1])
    const values = relative.ticks(Math.max(2, Math.floor((range.x1 - range.x0) / 80)))
    const step = values.length > 1 ? values[1]! - values[0]! : 1_000
    for (const value of values) ticks.push({ x: relative(value), label: tickLabel(value, step) })
  }
  // Each label is centred on its tick but kept inside the axis; one that would touch the label
  // before it (at a break, two segments' ticks meet) is dropped, so labels never overlap.
  const kept: ((typeof ticks)[number] & { labelX: number })[] = []
  let lastRight = -Infinity
  for (const tick of ticks.sort((a, b) => a.x - b.x)) {
    const half = (tick.label.length * CHAR_PX) / 2
    const labelX = Math.min(width - 4 - half, Math.max(labelWidth + 4 + half, tick.x))
    if (labelX - half < lastRight + TICK_GAP_PX) continue
    // Nor over a break's "//" on the axis.
    if (
      axis.breaks.some(
        (bx) => bx + BREAK_MARK_HALF_PX > labelX - half - 2 && bx - BREAK_MARK_HALF_PX < labelX + half + 2,
      )
    )
      continue
    kept.push({ ...tick, labelX })
    lastRight = labelX + half
  }
  const grid = svg.append("g").attr("class", "wf-grid")
  grid
    .selectAll("line")
    .data(kept)
    .join("line")
    .attr("x1", (tick) => tick.x)
    .attr("x2", (tick) => tick.x)
    .attr("y1", HEADER_HEIGHT - 8)
    .attr("y2", height - 6)
  svg
    .append("g")
    .attr("class", "wf-ticks")
    .selectAll("text")
    .data(kept)
    .join("text")
    .attr("x", (tick) => tick.labelX)
    .attr("y", HEADER_HEIGHT - 12)
    .attr("text-anchor", "middle")
    .text((tick) => tick.label)

  // Broken axis: a zig-zag through the rows and a "//" on the axis.
  const breaks = svg.append("g").attr("class", "wf-breaks")
  for (const bx of axis.breaks) {
    const g = breaks.append("g").attr("class", "wf-break").attr("data-testid", "axis-break")
    g.append("rect")
      .attr("class", "wf-break-bg")
      .attr("x", bx - 5)
      .attr("y", HEADER_HEIGHT - 8)
      .attr("width", 10)
      .attr("height", height - HEADER_HEIGHT + 2)
    g.append("path")
      .attr("class", "wf-break-mark")
      .attr("d", `M${bx - 6},${HEADER_HEIGHT - 4}l5,-8M${bx},${HEADER_HEIGHT - 4}l5,-8`)
    g.append("title").text("Time axis broken: a quiet stretch is cut out")
  }

  const y = (index: number) => tops[index]!
  const indexOf = new Map(model.rows.map((row, index) => [row.id, index]))
  const nameColumn = (row: WaterfallRow) =>
    labelWidth - 12 - row.depth * INDENT_PX - (row.durationText ? row.durationText.length * CHAR_PX + 8 : 0)
  const detailsId = (index: number) => `wf-details-${index}`

  const rows = svg
    .append("g")
    .attr("class", "wf-rows")
    .selectAll<SVGGElement, WaterfallRow>("g")
    .data(model.rows, (row) => row.id)
    .join("g")
    .attr("class", (row) => `wf-row wf-${row.kind}${row.also ? " wf-also" : ""}`)
    .attr("data-row", (row) => row.id)
    .attr("data-kind", (row) => row.kind)
    .attr("data-depth", (row) => row.depth)
    .attr("tabindex", 0)
    .attr("role", "button")
    .attr("aria-expanded", (row) => String(details[indexOf.get(row.id)!] !== undefined))
    .attr("aria-label", (row) => rowLabel(row, model.t0))
    .on("focus mouseenter", (_event, row) => {
      options.onSelect?.(row)
      options.onHover?.(row)
    })
    .on("mouseleave", () => options.onHover?.(undefined))
    .on("focus.full", (_event, row) => showFullName(row))
    .on("blur", () => {
      svg.selectAll(".wf-full-label").remove()
      options.onHover?.(undefined)
    })
    .on("click", (_event, row) => options.onToggle?.(row))
    .on("keydown", (event: KeyboardEvent, row) => {
      if (event.key !== "Enter" && event.key !== " ") return
      event.preventDefault()
      options.onToggle?.(row)
    })
    .each(function (row, i) {
      if (row.kind === "missing") select(this).attr("data-testid", "missing-callout")
      if (details[i]) select(this).attr("aria-controls", detailsId(i))
    })

  rows
    .append("rect")
    .attr("class", "wf-row-bg")
    .attr("x", 0)
    .attr("y", (_row, i) => y(i))
    .attr("width", width)
    .attr("height", ROW_HEIGHT)
  // Name (indented) and duration, in the name column.
  rows
    .append("text")
    .attr("class", "wf-name")
    .attr("x", (row) => 6 + row.depth * INDENT_PX)
    .attr("y", (_row, i) => y(i) + ROW_HEIGHT / 2 + 4)
    .text((row) => fitText(row.name, nameColumn(row)))
  rows
    .append("text")
    .attr("class", "wf-duration")
    .attr("x", labelWidth - 4)
    .attr("y", (_row, i) => y(i) + ROW_HEIGHT / 2 + 4)
    .attr("text-anchor", "end")
    .text((row) => row.durationText)
  rows.append("title").text((row) => row.name)

  const barY = (i: number) => y(i) + 7
  const barH = ROW_HEIGHT - 14
  rows.each(function (row, i) {
    const g = select(this)
    const x0 = x(row.start)
    const x1 = x(row.end)
    if (row.kind === "missing") {
      g.append("rect")
        .attr("class", "wf-missing-box")
        .attr("x", x0 - 20)
        .attr("y", barY(i))
        .attr("width", 40)
        .attr("height", barH)
        .attr("rx", 3)
      return
    }
    if (row.end > row.start && x1 - x0 >= 3) {
      g.append("rect")
        .attr("class", "wf-bar")
        .attr("x", x0)
        .attr("y", barY(i))
        .attr("width", x1 - x0)
        .attr("height", barH)
        .attr("rx", 2)
    } else {
      const cx = x0
      const cy = barY(i) + barH / 2
      g.append("path")
        .attr("class", "wf-instant")
        .attr("d", `M${cx},${cy - 7}L${cx + 7},${cy}L${cx},${cy + 7}L${cx - 7},${cy}Z`)
    }
    if (row.unknown) {
      const ux0 = x(row.unknown[0])
      const ux1 = Math.max(ux0 + 4, x(row.unknown[1]))
      const stretch = g
        .append("rect")
        .attr("class", "wf-unknown")
        .attr("data-testid", "unknown-stretch")
        .attr("x", ux0)
        .attr("y", barY(i))
        .attr("width", ux1 - ux0)
        .attr("height", barH)
      stretch
        .append("title")
        .text(
          `Last evidence at ${clockMs(row.unknown[0])}; unknown until the server restarted at ${clockMs(row.unknown[1])}`,
        )
      // The words on the drawing, inside the stretch (on a plate, readable over the hatching): the
      // whole phrase where it fits, else the one word (how much of the axis the stretch gets
      // depends on how long the run lived before the crash); the title and row label say it all.
      const words = [UNKNOWN_LABEL, UNKNOWN_LABEL_SHORT].find((text) => ux1 - ux0 >= text.length * CHAR_PX + 12)
      if (words) {
        const labelPx = words.length * CHAR_PX
        const cx = (ux0 + ux1) / 2
        g.append("rect")
          .attr("class", "wf-unknown-plate")
          .attr("x", cx - labelPx / 2 - 3)
          .attr("y", barY(i) + 1)
          .attr("width", labelPx + 6)
          .attr("height", barH - 2)
          .attr("rx", 2)
        g.append("text")
          .attr("class", "wf-unknown-label")
          .attr("x", cx)
          .attr("y", barY(i) + barH / 2 + 4)
          .attr("text-anchor", "middle")
          .text(words)
      }
    }
    g.selectAll("g.wf-tick")
      .data(row.ticks)
      .join("g")
      .attr("class", (tick) => `wf-tick wf-tick-${tick.kind}`)
      .attr("data-tick", (tick) => tick.kind)
      .each(function (tick) {
        const t = select<SVGGElement, unknown>(this as SVGGElement)
        const tx = x(tick.at)
        const top = barY(i) - 3
        const bottom = barY(i) + barH + 3
        t.append("title").text(tick.label)
        drawTick(t, tick.kind, tx, top, bottom)
      })
  })

  // Arrows: from each hop down to the next, landing where the next one started.
  svg
    .append("g")
    .attr("class", "wf-links")
    .selectAll("path")
    .data(model.links.filter((link) => indexOf.has(link.from) && indexOf.has(link.to)))
    .join("path")
    .attr("class", (link) => `wf-link${link.dashed ? " wf-link-dashed" : ""}`)
    .attr("d", (link) => {
      const from = model.rows[indexOf.get(link.from)!]!
      const fi = indexOf.get(link.from)!
      const ti = indexOf.get(link.to)!
      const sx = from.kind === "missing" ? x(from.start) : Math.min(x(from.end), x(link.at))
      const sy = fi < ti ? barY(fi) + barH : barY(fi)
      const tx = x(link.at)
      const ty = fi < ti ? barY(ti) - 1 : barY(ti) + barH + 1
      return `M${sx},${sy} C${sx},${(sy + ty) / 2} ${tx},${(sy + ty) / 2} ${tx},${ty}`
    })
    .attr("marker-end", "url(#wf-arrow)")

  // Expanded rows' details, under each row (Jaeger's span detail): a monospace key/value list.
  const detailLayer = svg.append("g").attr("class", "wf-details-layer")
  model.rows.forEach((row, i) => {
    if (!details[i]) return
    const { keyColumns, lines } = details[i]!
    const top = y(i) + ROW_HEIGHT
    const g = detailLayer
      .append("g")
      .attr("class", "wf-details")
      .attr("id", detailsId(i))
      .attr("data-testid", "row-details")
      .attr("data-row", row.id)
      .attr("role", "group")
      .attr("aria-label", `Details: ${row.name}`)
    g.append("rect")
      .attr("class", "wf-details-bg")
      .attr("x", detailX - 2)
      .attr("y", top)
      .attr("width", width - 2 * detailX + 4)
      .attr("height", detailHeight(i))
      .attr("rx", 3)
    lines.forEach((line, k) => {
      const baseline = top + DETAIL_PAD_PX + (k + 1) * DETAIL_LINE_PX - 4
      if (line.key)
        g.append("text")
          .attr("class", "wf-detail-key")
          .attr("x", detailX + DETAIL_PAD_PX)
          .attr("y", baseline)
          .text(line.key)
      if (line.value)
        g.append("text")
          .attr("class", "wf-detail-value")
          .attr("x", detailX + DETAIL_PAD_PX + keyColumns * CHAR_PX)
          .attr("y", baseline)
          .text(line.value)
    })
  })

  // A name cut to fit, drawn whole over everything while its row has the focus (a <title> shows
  // only to a pointer).
  function showFullName(row: WaterfallRow): void {
    svg.selectAll(".wf-full-label").remove()
    if (fitText(row.name, nameColumn(row)) === row.name) return
    const i = indexOf.get(row.id)!
    const left = 3 + row.depth * INDENT_PX
    const lines = wrapText(row.name, Math.floor((width - 4 - left - 6) / CHAR_PX))
    const g = svg
      .append("g")
      .attr("class", "wf-full-label")
      .attr("data-testid", "full-label")
      .attr("aria-hidden", "true")
    g.append("rect")
      .attr("x", left)
      .attr("y", y(i) + 3)
      .attr("width", Math.max(...lines.map((line) => line.length)) * CHAR_PX + 6)
      .attr("height", ROW_HEIGHT - 6 + (lines.length - 1) * FULL_LINE_PX)
      .attr("rx", 3)
    lines.forEach((line, k) =>
      g
        .append("text")
        .attr("x", left + 3)
        .attr("y", y(i) + ROW_HEIGHT / 2 + 4 + k * FULL_LINE_PX)
        .text(line),
    )
  }

  // The row that had the keyboard focus before the redraw has it again.
  if (focusedId)
    rows
      .filter((row) => row.id === focusedId)
      .node()
      ?.focus()
}

function drawTick(
  g: Selection<SVGGElement, unknown, null, undefined>,
  kind: TickKind,
  tx: number,
  top: number,
  bottom: number,
): void {
  const mid = (top + bottom) / 2
  switch (kind) {
    case "output":
      g.append("line").attr("x1", tx).attr("x2", tx).attr("y1", top).attr("y2", bottom)
      break
    case "tool-start":
      g.append("path").attr("d", `M${tx},${top}L${tx + 6},${mid}L${tx},${bottom}Z`)
      break
    case "tool-done":
      g.append("rect")
        .attr("x", tx - 4)
        .attr("y", mid - 4)
        .attr("width", 8)
        .attr("height", 8)
      break
    case "heartbeat":
      g.append("circle").attr("cx", tx).attr("cy", mid).attr("r", 4)
      break
    case "stop":
      g.append("path").attr("d", `M${tx - 5},${top}L${tx + 5},${bottom}M${tx - 5},${bottom}L${tx + 5},${top}`)
      break
  }
}

function rowLabel(row: WaterfallRow, t0: number): string {
  const at = `at +${((row.start - t0) / 1_000).toFixed(2)} s`
  const length = row.durationText ? `, took ${row.durationText}` : ""
  const unknown = row.unknown
    ? `, last evidence at +${((row.unknown[0] - t0) / 1_000).toFixed(2)} s, then unknown for ${((row.unknown[1] - row.unknown[0]) / 1_000).toFixed(1)} s until the restart`
    : ""
  const ticks =
    row.ticks.length > 0
      ? `; ${row.ticks.map((tick) => `${tick.label} at +${((tick.at - t0) / 1_000).toFixed(2)} s`).join(", ")}`
      : ""
  return row.kind === "missing" ? row.name : `${row.name}, ${at}${length}${unknown}${ticks}`
}
