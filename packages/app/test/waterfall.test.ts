import { readExport } from "opencode/provenance/export-reader"
import { LifecycleAction, RunSummary, type IncidentChain } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { clockMs, headlineWords } from "../src/diagnostics/story.ts"
import {
  axisLayout,
  axisSegments,
  buildWaterfall,
  causePathOnly,
  rowDetails,
  type WaterfallModel,
} from "../src/diagnostics/waterfall.ts"
import { fitText, labelColumnWidth, ROW_HEIGHT, renderWaterfall } from "../src/diagnostics/waterfall-render.ts"
import { exportFor, T0 } from "./fixtures.ts"

function chainOf(doc: unknown): IncidentChain {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  return read.incidents[0]!
}

describe("waterfall model", () => {
  it("one row per hop, indented parent → child, with names and durations; the run is the deepest row", () => {
    const doc = exportFor("diagnosed")
    const model = buildWaterfall(chainOf(doc), exportData(doc).records, { isOwnAction: () => true })
    expect(model.rows.map((row) => [row.id, row.depth, row.name, row.durationText])).toEqual([
      ["act:act_reload1", 0, "You clicked Reload project", ""],
      ["req:req_reload1", 1, "Request from the app: POST /instance/reload", "40 ms"],
      ["lc:lc_reload1", 2, "Project reload", "600 ms"],
      ["run:run_one", 3, "Run (scripted/slow)", "4.0 s"],
    ])
    expect(model.links.map((link) => `${link.from}>${link.to}`)).toEqual([
      "act:act_reload1>req:req_reload1",
      "req:req_reload1>lc:lc_reload1",
      "lc:lc_reload1>run:run_one",
    ])
    // The arrow into the run lands at its stop signal, not at the run's start.
    expect(model.links.at(-1)!.at).toBe(T0 + 3_600)
    const run = model.rows.at(-1)!
    expect(run.ticks.map((tick) => tick.kind)).toEqual(["output", "output", "stop"])
    expect(model.t0).toBe(T0)
  })

  it("a crash: the run's bar ends at the last evidence; the rest is unknown until the restart, a node of its own", () => {
    const doc = exportFor("crash_evidence")
    const model = buildWaterfall(chainOf(doc), exportData(doc).records)
    const run = model.rows.find((row) => row.kind === "run")!
    expect(run.end).toBe(T0 + 2_000)
    expect(run.unknown).toEqual([T0 + 2_000, T0 + 60_000])
    expect(run.ticks.map((tick) => tick.kind)).toEqual(["tool-start", "heartbeat"])
    expect(model.rows.find((row) => row.kind === "restart")).toMatchObject({
      start: T0 + 60_000,
      name: "Server restarted; run found unfinished",
    })
    expect(model.links.some((link) => link.from === "restart" || link.to === "restart")).toBe(false)
  })

  it("a crash with the summary the restart wrote: still drawn to the last evidence, never alive until the restart, no stop signal", () => {
    const doc = exportFor("crash_evidence")
    // What the server's crash scan writes at restart: a summary that ends when the run was found.
    doc.diagnostics.runs.push(
      RunSummary.parse({
        ...exportFor("diagnosed").diagnostics.runs[0]!,
        classification: "process_exit_without_finalizer",
        finishedAt: T0 + 60_000,
        interrupt: undefined,
        provider: { chunks: 1, progress: true, firstOutputAt: T0 + 200, lastOutputAt: T0 + 2_500 },
      }),
    )
    const model = buildWaterfall(chainOf(doc), exportData(doc).records)
    const run = model.rows.find((row) => row.kind === "run")!
    expect(run.end).toBe(T0 + 2_500)
    expect(run.unknown).toEqual([T0 + 2_500, T0 + 60_000])
    expect(run.ticks.some((tick) => tick.kind === "stop")).toBe(false)
    expect(headlineWords(chainOf(doc), exportData(doc).records)).toContain("Last evidence at")
    expect(headlineWords(chainOf(doc), exportData(doc).records)).toContain("2.5 s into the run")
  })

  it("a long quiet stretch breaks the axis instead of squeezing the stop against an edge", () => {
    const segments = axisSegments([0, 200, 2_000, 120_000, 120_050, 120_400], 0, 120_400)
    expect(segments).toHaveLength(2)
    expect(segments[0]!.to).toBeLessThan(10_000)
    expect(segments[1]!.from).toBeGreaterThan(100_000)
    const layout = axisLayout(segments, 100, 700)
    // The stop's 400 ms get at least a quarter of the width.
    expect(layout.x(120_400) - layout.x(120_000)).toBeGreaterThan(100)
    expect(layout.breaks).toHaveLength(1)
    expect(axisSegments([0, 1_000, 2_000, 3_000], 0, 3_000)).toEqual([{ from: 0, to: 3_000 }])
  })

  it("dispose all shows how many projects and runs it reached; the child close is indented under it", () => {
    const doc = exportFor("diagnosed")
    const root = LifecycleAction.parse({
      ...doc.diagnostics.lifecycle[0]!,
      lifecycleId: "lc_all",
      rootId: "lc_all",
      operation: "dispose_all",
      rootOperation: "dispose_all",
      directoryCount: 2,
      runIds: [],
    })
    const child = LifecycleAction.parse({
      ...doc.diagnostics.lifecycle[0]!,
      lifecycleId: "lc_dir",
      rootId: "lc_all",
      parentId: "lc_all",
      operation: "dispose_directory",
      rootOperation: "dispose_all",
      runIds: ["run_one", "run_two"],
    })
    doc.diagnostics.lifecycle = [root, child]
    const chain = {
      ...chainOf(exportFor("diagnosed")),
      operation: "dispose_directory" as const,
      rootOperation: "dispose_all" as const,
      lifecycleId: "lc_dir",
      lifecyclePath: [
        { lifecycleId: "lc_all", operation: "dispose_all" as const },
        { lifecycleId: "lc_dir", operation: "dispose_directory" as const },
      ],
    }
    const model = buildWaterfall(chain, exportData(doc).records)
    const all = model.rows.find((row) => row.id === "lc:lc_all")!
    const dir = model.rows.find((row) => row.id === "lc:lc_dir")!
    expect(all.name).toBe("Close of every project: 2 projects, 2 runs")
    expect(dir.depth).toBe(all.depth + 1)
  })

  it("an outside config edit is its own node before the close", () => {
    const doc = exportFor("diagnosed")
    const origin = {
      kind: "config_invalidation" as const,
      scope: "project" as const,
      change: "modified" as const,
      fileKey: "abcdef0123",
      provenance: { complete: true, missing: [] },
    }
    doc.diagnostics.lifecycle[0] = LifecycleAction.parse({
      ...doc.diagnostics.lifecycle[0]!,
      operation: "dispose_directory",
      rootOperation: "dispose_directory",
      origin,
    })
    doc.diagnostics.requests = []
    doc.diagnostics.renderer = []
    const chain = {
      ...chainOf(exportFor("diagnosed")),
      origin,
      operation: "dispose_directory" as const,
      rootOperation: "dispose_directory" as const,
      lifecyclePath: [{ lifecycleId: "lc_reload1", operation: "dispose_directory" as const }],
    }
    const model = buildWaterfall(chain, exportData(doc).records)
    expect(model.rows.map((row) => row.name)).toEqual([
      "The project's opencode.json was edited outside the app",
      "Project close",
      "Run (scripted/slow)",
    ])
    expect(JSON.stringify(model.rows)).not.toContain("abcdef0123")
  })

  it("the abort route is linked straight to the run it stopped", () => {
    const doc = exportFor("diagnosed")
    const request = {
      requestId: "req_abort",
      route: "/session/:id/abort",
      method: "POST",
      clientKind: "app" as const,
      actionId: "act_stop",
      actionName: "session.abort",
      actionHeader: "present" as const,
    }
    const origin = { kind: "api_route" as const, request, provenance: { complete: true, missing: [] } }
    doc.diagnostics.lifecycle = []
    doc.diagnostics.requests = [{ ...request, seq: 2, time: T0 + 3_450, status: 200, durationMs: 5 }]
    const chain = {
      ...chainOf(exportFor("diagnosed")),
      classification: "user_cancelled" as const,
      origin,
      operation: undefined,
      rootOperation: undefined,
      lifecycleId: undefined,
      lifecyclePath: undefined,
    }
    const model = buildWaterfall(chain, exportData(doc).records, { isOwnAction: () => true })
    expect(model.rows.map((row) => row.name)).toEqual([
      "You clicked Stop",
      "Request from the app: POST /session/:id/abort",
      "Run (scripted/slow)",
    ])
    expect(model.links.at(-1)).toMatchObject({ from: "req:req_abort", to: "run:run_one" })
  })
})

describe("waterfall rendering", () => {
  it("names sit in their own column, cut to fit, so no two labels overlap at 390 px or 1280 px", () => {
    for (const width of [390, 1280]) {
      const doc = exportFor("diagnosed")
      const model = buildWaterfall(chainOf(doc), exportData(doc).records, { isOwnAction: () => true })
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg")
      renderWaterfall(svg, model, { width })
      const names = Array.from(svg.querySelectorAll("text.wf-name"))
      const ys = names.map((node) => Number(node.getAttribute("y")))
      expect(new Set(ys).size).toBe(names.length)
      const column = labelColumnWidth(width)
      for (const node of names)
        expect((node.textContent ?? "").length * 6.7 + Number(node.getAttribute("x"))).toBeLessThanOrEqual(column)
      const ticks = Array.from(svg.querySelectorAll(".wf-ticks text")).map((node) => Number(node.getAttribute("x")))
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeGreaterThanOrEqual(48)
      expect(svg.querySelector(".wf-start")?.textContent).toMatch(/^Start \d\d:\d\d:\d\d\.\d{3}$/)
    }
    expect(fitText("Request from the app: POST /instance/reload", 100)).toMatch(/…$/)
  })

  it("a name is cut between characters a person counts, never inside an emoji or before its accent", () => {
    // 100 px is 14 characters at 6.7 px: 13 kept and the ellipsis.
    expect(fitText(`${"a".repeat(12)}👍🏽👍🏽👍🏽`, 100)).toBe(`${"a".repeat(12)}👍🏽…`)
    expect(fitText("e\u0301".repeat(20), 100)).toBe(`${"e\u0301".repeat(13)}…`)
    expect(fitText("👨‍👩‍👧‍👦".repeat(14), 100)).toBe("👨‍👩‍👧‍👦".repeat(14))
  })

  /** The pixel extent of a text node, as the renderer estimates it (6.7 px a character). */
  function extent(node: Element): [number, number] {
    const x = Number(node.getAttribute("x"))
    const width = (node.textContent ?? "").length * 6.7
    const anchor = node.getAttribute("text-anchor")
    return anchor === "middle" ? [x - width / 2, x + width / 2] : anchor === "end" ? [x - width, x] : [x, x + width]
  }
  function render(
    scenario: Parameters<typeof exportFor>[0],
    width: number,
    svg = document.createElementNS("http://www.w3.org/2000/svg", "svg"),
  ) {
    const doc = exportFor(scenario)
    renderWaterfall(svg, buildWaterfall(chainOf(doc), exportData(doc).records, { isOwnAction: () => true }), { width })
    return svg
  }

  it("a crash is drawn hatched from the last evidence to the restart, labelled 'unknown until restart', behind a broken axis", () => {
    for (const width of [390, 1280]) {
      const svg = render("crash_evidence", width)
      // 2 s of evidence then 58 s of nothing: the axis is broken, not squeezed.
      expect(svg.querySelectorAll('[data-testid="axis-break"]')).toHaveLength(1)
      const unknown = svg.querySelector('[data-testid="unknown-stretch"]')!
      expect(unknown.getAttribute("class")).toBe("wf-unknown")
      expect(unknown.querySelector("title")?.textContent).toMatch(
        /^Last evidence at \d\d:\d\d:\d\d\.\d{3}; unknown until the server restarted at \d\d:\d\d:\d\d\.\d{3}$/,
      )
      const run = svg.querySelector('g.wf-row[data-kind="run"]')!
      expect(run.getAttribute("aria-label")).toMatch(
        /last evidence at \+2\.00 s, then unknown for 58\.0 s until the restart/,
      )
      // The words on the drawing, where they fit; never past the stretch.
      const label = svg.querySelector(".wf-unknown-label")
      if (label) {
        const [x0, x1] = extent(label)
        expect(x0).toBeGreaterThanOrEqual(Number(unknown.getAttribute("x")))
        expect(x1).toBeLessThanOrEqual(Number(unknown.getAttribute("x")) + Number(unknown.getAttribute("width")))
      }
      if (width === 1280) expect(label?.textContent).toBe("unknown until restart")
    }
  })

  it("a stretch too narrow for the phrase still says 'unknown' on the drawing, inside it", () => {
    const labels = [390, 800, 1280].map((width) => {
      const svg = render("crash_evidence", width)
      const unknown = svg.querySelector('[data-testid="unknown-stretch"]')!
      const label = svg.querySelector(".wf-unknown-label")
      if (!label) return null
      const [x0, x1] = extent(label)
      expect(x0).toBeGreaterThanOrEqual(Number(unknown.getAttribute("x")))
      expect(x1).toBeLessThanOrEqual(Number(unknown.getAttribute("x")) + Number(unknown.getAttribute("width")))
      return label.textContent
    })
    // 390 and 800 px leave this stretch room for the word only (62 and 128 px); 1280 px for the phrase.
    expect(labels).toEqual(["unknown", "unknown", "unknown until restart"])
  })

  it("no two labels overlap: tick labels (broken axis included), names and durations, at 390 px and 1280 px", () => {
    for (const scenario of ["diagnosed", "crash_evidence", "partially_diagnosed"] as const) {
      for (const width of [390, 600, 1280]) {
        const svg = render(scenario, width)
        const ticks = Array.from(svg.querySelectorAll(".wf-ticks text"))
          .map(extent)
          .sort((a, b) => a[0] - b[0])
        for (let i = 1; i < ticks.length; i++)
          expect(ticks[i]![0], `${scenario} at ${width}: tick labels overlap`).toBeGreaterThanOrEqual(
            ticks[i - 1]![1] + 4,
          )
        for (const [, x1] of ticks) expect(x1).toBeLessThanOrEqual(width)
        for (const [x0] of ticks) expect(x0).toBeGreaterThanOrEqual(labelColumnWidth(width))
        // Nor over a break's "//" mark (7 px either side of it).
        for (const mark of Array.from(svg.querySelectorAll(".wf-break-bg"))) {
          const bx = Number(mark.getAttribute("x")) + 5
          for (const [x0, x1] of ticks)
            expect(x1 < bx - 7 || x0 > bx + 7, `${scenario} at ${width}: a tick label covers the axis break`).toBe(true)
        }
        for (const row of Array.from(svg.querySelectorAll("g.wf-row"))) {
          const name = row.querySelector(".wf-name")!
          const duration = row.querySelector(".wf-duration")!
          if (duration.textContent)
            expect(
              extent(name)[1],
              `${scenario} at ${width}: "${name.textContent}" runs into its duration`,
            ).toBeLessThanOrEqual(extent(duration)[0])
        }
      }
    }
  })

  it("redraws from scratch at a new width (a resize): nothing drawn twice", () => {
    const svg = render("crash_evidence", 1280)
    const rows = svg.querySelectorAll("g.wf-row").length
    render("crash_evidence", 390, svg)
    expect(svg.getAttribute("width")).toBe("390")
    expect(svg.querySelectorAll("g.wf-row")).toHaveLength(rows)
    expect(svg.querySelectorAll("defs")).toHaveLength(1)
    expect(svg.querySelectorAll('[data-testid="axis-break"]')).toHaveLength(1)
  })
})

describe("waterfall rows expand in place to their details", () => {
  const diagnosed = () => {
    const doc = exportFor("diagnosed")
    return buildWaterfall(chainOf(doc), exportData(doc).records, { isOwnAction: () => true })
  }
  const draw = (model: WaterfallModel, width: number, options: Partial<Parameters<typeof renderWaterfall>[2]> = {}) => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg")
    document.body.append(svg)
    renderWaterfall(svg, model, { width, ...options })
    return svg
  }
  const rowTop = (svg: SVGSVGElement, id: string) =>
    Number(svg.querySelector(`g.wf-row[data-row="${id}"] .wf-row-bg`)!.getAttribute("y"))

  it("a row's details: its whole name, when it happened, how long it took, its ids and its ticks", () => {
    const model = diagnosed()
    const request = model.rows.find((row) => row.id === "req:req_reload1")!
    expect(rowDetails(request, model.t0)).toEqual([
      ["step", "Request from the app: POST /instance/reload"],
      ["at", `+3.45 s (${clockMs(T0 + 3_450)})`],
      ["took", "40 ms"],
      ["request", "req_reload1"],
      ["answered", "200"],
    ])
    const run = model.rows.at(-1)!
    expect(rowDetails(run, model.t0)).toContainEqual(["stop signal", `+3.60 s (${clockMs(T0 + 3_600)})`])
    const doc = exportFor("crash_evidence")
    const crash = buildWaterfall(chainOf(doc), exportData(doc).records)
    expect(
      rowDetails(
        crash.rows.find((row) => row.kind === "run")!,
        crash.t0,
      ),
    ).toContainEqual(["unknown", `from +2.00 s to +60.00 s, until the server restarted at ${clockMs(T0 + 60_000)}`])
  })

  it("an expanded row's details sit right under it, and the rows below move down to make room", () => {
    const model = diagnosed()
    const plain = draw(model, 900)
    const open = draw(model, 900, { expanded: new Set(["req:req_reload1"]) })
    const details = open.querySelector<SVGGElement>('[data-testid="row-details"]')!
    expect(details.getAttribute("data-row")).toBe("req:req_reload1")
    const box = details.querySelector("rect")!
    const top = Number(box.getAttribute("y"))
    const height = Number(box.getAttribute("height"))
    expect(height).toBeGreaterThan(0)
    expect(rowTop(open, "act:act_reload1")).toBe(rowTop(plain, "act:act_reload1"))
    expect(rowTop(open, "req:req_reload1")).toBe(rowTop(plain, "req:req_reload1"))
    expect(top).toBe(rowTop(open, "req:req_reload1") + ROW_HEIGHT)
    expect(rowTop(open, "lc:lc_reload1")).toBe(rowTop(plain, "lc:lc_reload1") + height)
    expect(rowTop(open, "run:run_one")).toBe(rowTop(plain, "run:run_one") + height)
    expect(Number(open.getAttribute("height"))).toBe(Number(plain.getAttribute("height")) + height)
    // Its words: every detail, the ids included, each line inside the box.
    const lines = Array.from(details.querySelectorAll("text")).map((node) => node.textContent)
    expect(lines.join(" ")).toContain("Request from the app: POST /instance/reload")
    expect(lines.join(" ")).toContain("req_reload1")
    for (const node of Array.from(details.querySelectorAll("text"))) {
      const y = Number(node.getAttribute("y"))
      expect(y).toBeGreaterThan(top)
      expect(y).toBeLessThanOrEqual(top + height)
      expect(Number(node.getAttribute("x")) + (node.textContent ?? "").length * 6.7).toBeLessThanOrEqual(900)
    }
    // The row says it is expanded and which block it controls; the others say they are not.
    const rows = Array.from(open.querySelectorAll("g.wf-row"))
    expect(rows.map((row) => [row.getAttribute("role"), row.getAttribute("aria-expanded")])).toEqual([
      ["button", "false"],
      ["button", "true"],
      ["button", "false"],
      ["button", "false"],
    ])
    expect(rows[1]!.getAttribute("aria-controls")).toBe(details.id)
    expect(details.getAttribute("role")).toBe("group")
  })

  it("a click, Enter or Space on a row asks to expand or collapse it", () => {
    const toggled: string[] = []
    const svg = draw(diagnosed(), 900, { onToggle: (row) => toggled.push(row.id) })
    const row = svg.querySelector('g.wf-row[data-row="lc:lc_reload1"]')!
    row.dispatchEvent(new MouseEvent("click", { bubbles: true }))
    row.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }))
    row.dispatchEvent(new KeyboardEvent("keydown", { key: " ", bubbles: true }))
    row.dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }))
    expect(toggled).toEqual(["lc:lc_reload1", "lc:lc_reload1", "lc:lc_reload1"])
  })

  it("cause path only: drops the restart, a close that also asked, and a possible cause; keeps every gap on the path", () => {
    const crashDoc = exportFor("crash_evidence")
    const crash = buildWaterfall(chainOf(crashDoc), exportData(crashDoc).records)
    expect(crash.rows.map((row) => row.kind)).toContain("restart")
    expect(causePathOnly(crash).rows.map((row) => row.kind)).not.toContain("restart")

    const doc = exportFor("diagnosed")
    doc.diagnostics.lifecycle.push(
      LifecycleAction.parse({
        ...doc.diagnostics.lifecycle[0]!,
        lifecycleId: "lc_other",
        seq: 6,
        operation: "dispose",
        rootOperation: "dispose",
        rootId: "lc_other",
        startedAt: T0 + 3_700,
        finishedAt: T0 + 9_000,
      }),
    )
    const chain = {
      ...chainOf(exportFor("diagnosed")),
      alsoRequestedBy: [
        {
          seq: 6,
          at: T0 + 3_700,
          kind: "lifecycle" as const,
          lifecycleId: "lc_other",
          operation: "dispose" as const,
          late: false,
        },
      ],
    }
    const full = buildWaterfall(chain, exportData(doc).records, { isOwnAction: () => true })
    expect(full.rows.map((row) => row.id)).toContain("lc:lc_other")
    const path = causePathOnly(full)
    expect(path.rows.map((row) => row.id)).toEqual([
      "act:act_reload1",
      "req:req_reload1",
      "lc:lc_reload1",
      "run:run_one",
    ])
    expect(path.links.map((link) => `${link.from}>${link.to}`)).toEqual([
      "act:act_reload1>req:req_reload1",
      "req:req_reload1>lc:lc_reload1",
      "lc:lc_reload1>run:run_one",
    ])
    // The axis is the path's: the other close's 5 s no longer stretch it.
    expect(full.t1).toBe(T0 + 9_000)
    expect(path.t1).toBe(T0 + 4_100)

    // A possible cause of a lost run is not its cause: dashed, and not on the path.
    crashDoc.diagnostics.lifecycle.push(exportFor("diagnosed").diagnostics.lifecycle[0]!)
    const possible = buildWaterfall(
      { ...chainOf(crashDoc), possibleCause: { lifecycleId: "lc_reload1", operation: "reload" } },
      exportData(crashDoc).records,
    )
    const maybe = possible.rows.find((row) => row.id === "lc:lc_reload1")!
    expect(maybe.name).toMatch(/^Possible cause, not confirmed/)
    expect(possible.links.find((link) => link.from === maybe.id)?.dashed).toBe(true)
    expect(causePathOnly(possible).rows.map((row) => row.id)).not.toContain(maybe.id)

    const partialDoc = exportFor("partially_diagnosed")
    const partial = causePathOnly(buildWaterfall(chainOf(partialDoc), exportData(partialDoc).records))
    expect(partial.rows.map((row) => row.kind)).toEqual(["missing", "request", "lifecycle", "run"])
  })
})

describe("waterfall: a label cut to fit reads in full", () => {
  const draw = (model: WaterfallModel, width: number) => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg")
    document.body.append(svg)
    renderWaterfall(svg, model, { width })
    return svg
  }

  it("on focus, drawn over the drawing on a plate, and in the row's accessible name", () => {
    const doc = exportFor("diagnosed")
    const svg = draw(buildWaterfall(chainOf(doc), exportData(doc).records), 600)
    const row = svg.querySelector('g.wf-row[data-row="req:req_reload1"]')!
    expect(row.querySelector(".wf-name")!.textContent).toMatch(/^Request from the app: POST \/.*…$/)
    expect(row.getAttribute("aria-label")).toMatch(/^Request from the app: POST \/instance\/reload, at \+/)
    expect(svg.querySelector('[data-testid="full-label"]')).toBeNull()
    row.dispatchEvent(new FocusEvent("focus"))
    const full = svg.querySelector('[data-testid="full-label"]')!
    expect(
      Array.from(full.querySelectorAll("text"))
        .map((node) => node.textContent)
        .join(" "),
    ).toBe("Request from the app: POST /instance/reload")
    // Drawn last, so nothing covers it.
    expect(svg.lastElementChild).toBe(full)
    row.dispatchEvent(new FocusEvent("blur"))
    expect(svg.querySelector('[data-testid="full-label"]')).toBeNull()
    // A name shown whole needs nothing more.
    svg.querySelector('g.wf-row[data-row="run:run_one"]')!.dispatchEvent(new FocusEvent("focus"))
    expect(svg.querySelector('[data-testid="full-label"]')).toBeNull()
  })

  it("a name wider than the drawing wraps, every line inside the drawing", () => {
    const name = "Noticed while loading the project for POST /session/:id/prompt, a long route label"
    const model: WaterfallModel = {
      rows: [
        {
          id: "req:req_long",
          kind: "request",
          depth: 1,
          name,
          start: 0,
          end: 10,
          durationText: "10 ms",
          ticks: [],
          fields: [["request", "req_long"]],
        },
      ],
      links: [],
      segments: [{ from: 0, to: 10 }],
      t0: 0,
      t1: 10,
    }
    const svg = draw(model, 390)
    svg.querySelector("g.wf-row")!.dispatchEvent(new FocusEvent("focus"))
    const full = svg.querySelector('[data-testid="full-label"]')!
    const lines = Array.from(full.querySelectorAll("text"))
    expect(lines.length).toBeGreaterThan(1)
    expect(lines.map((node) => node.textContent).join(" ")).toBe(name)
    const plate = full.querySelector("rect")!
    expect(Number(plate.getAttribute("x")) + Number(plate.getAttribute("width"))).toBeLessThanOrEqual(390)
    for (const node of lines)
      expect(Number(node.getAttribute("x")) + (node.textContent ?? "").length * 6.7).toBeLessThanOrEqual(
        Number(plate.getAttribute("x")) + Number(plate.getAttribute("width")),
      )
  })
})
