import { readExport } from "opencode/provenance/export-reader"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { buildTimelineModel, focusDomain, MAX_ROWS, renderTimeline } from "../src/diagnostics/timeline.ts"
import { exportFor, largeExport } from "./fixtures.ts"

function chainOf(doc: unknown) {
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  return read.incidents[0]
}

describe("timeline model", () => {
  it("draws the chain's hops in their lanes, linked renderer → request → lifecycle → run", () => {
    const doc = exportFor("diagnosed")
    const { records } = exportData(doc)
    const model = buildTimelineModel(records, chainOf(doc))
    expect(model.marks.map((mark) => [mark.lane, mark.id, mark.onChain])).toEqual([
      ["renderer", "act:act_reload1", true],
      ["request", "req:req_reload1", true],
      ["lifecycle", "lc:lc_reload1", true],
      ["run", "run:run_one", true],
    ])
    expect(model.links.filter((link) => link.onChain).map((link) => `${link.from} > ${link.to}`)).toEqual([
      "act:act_reload1 > req:req_reload1",
      "req:req_reload1 > lc:lc_reload1",
      "lc:lc_reload1 > run:run_one",
    ])
    // The renderer mark sits at its request's server time, not the client clock.
    expect(model.marks[0]!.start).toBe(records.requests[0]!.time)
  })

  it("still draws the renderer hop from the request's headers when the action log was never uploaded", () => {
    const doc = exportFor("diagnosed")
    doc.diagnostics.renderer = []
    const model = buildTimelineModel(exportData(doc).records, chainOf(doc))
    const mark = model.marks.find((item) => item.lane === "renderer")!
    expect(mark).toMatchObject({ id: "act:act_reload1", label: "instance.reload", onChain: true })
    expect(mark.fields.find(([key]) => key === "source")?.[1]).toContain("client-reported")
    expect(model.callouts).toEqual([])
  })

  it("marks a later overlapping action as also requested, linked with a distinct kind", () => {
    const doc = exportFor("diagnosed")
    const later = { ...doc.diagnostics.lifecycle[0]!, lifecycleId: "lc_later", rootId: "lc_later", seq: 9, runIds: [], startedAt: doc.diagnostics.lifecycle[0]!.startedAt + 50 }
    doc.diagnostics.lifecycle.push(later)
    doc.diagnostics.runs[0] = { ...doc.diagnostics.runs[0]!, alsoRequestedBy: [{ seq: 9, at: later.startedAt, kind: "lifecycle", lifecycleId: "lc_later", operation: "reload", late: false }] }
    const model = buildTimelineModel(exportData(doc).records, chainOf(doc))
    const mark = model.marks.find((item) => item.id === "lc:lc_later")!
    expect(mark.alsoRequested).toBe(true)
    expect(mark.onChain).toBe(false)
    expect(model.links.find((link) => link.from === "lc:lc_later")).toMatchObject({ to: "run:run_one", kind: "also", onChain: false })
    // Overlapping lifecycle actions get separate rows.
    expect(mark.row).not.toBe(model.marks.find((item) => item.id === "lc:lc_reload1")!.row)
  })

  it("lays out and renders a 1,000-record chain in one pass, quickly", () => {
    const doc = largeExport(1_000)
    const { records } = exportData(doc)
    const chain = chainOf(doc)
    const started = performance.now()
    const model = buildTimelineModel(records, chain)
    const built = performance.now()
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg")
    document.body.append(svg)
    renderTimeline(svg, model, { width: 1200 })
    const rendered = performance.now()
    expect(model.marks.length).toBeGreaterThanOrEqual(1_000)
    expect(svg.querySelectorAll("g.mark")).toHaveLength(model.marks.length)
    expect(svg.querySelectorAll("path.link")).toHaveLength(model.links.length)
    expect(Math.max(...model.marks.map((mark) => mark.row))).toBeLessThan(MAX_ROWS)
    // Children of the dispose_all root are drawn as children with a parent link.
    expect(model.marks.filter((mark) => mark.child)).toHaveLength(250)
    expect(model.links.filter((link) => link.kind === "parent")).toHaveLength(250)
    expect(built - started).toBeLessThan(250)
    expect(rendered - built).toBeLessThan(3_000)
    svg.remove()
  })

  it("narrows to the window around the stop, leaving out marks outside it", () => {
    const doc = largeExport(400)
    const model = buildTimelineModel(exportData(doc).records, chainOf(doc))
    const domain = focusDomain(model)
    expect(domain).toBeDefined()
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg")
    renderTimeline(svg, model, { width: 1000, domain })
    const drawn = Array.from(svg.querySelectorAll("g.mark")).map((node) => node.getAttribute("data-mark"))
    expect(drawn.length).toBeLessThan(model.marks.length)
    for (const id of ["act:act_reload1", "req:req_reload1", "lc:lc_reload1", "run:run_one"]) expect(drawn).toContain(id)
  })
})
