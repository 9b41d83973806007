import { fireEvent, render, screen, within } from "@solidjs/testing-library"
import { LifecycleAction, type IncidentChain } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { eventHistory } from "../src/diagnostics/story.ts"
import { buildWaterfall } from "../src/diagnostics/waterfall.ts"
import { exportFor, type Scenario, T0 } from "./fixtures.ts"

function loaded(scenario: Scenario | ReturnType<typeof exportFor>) {
  const data = exportData(typeof scenario === "string" ? exportFor(scenario) : scenario)
  if (!data.read.ok) throw new Error(data.read.error)
  return { data, chain: data.read.incidents[0]! }
}

const valueOf = (attributes: [string, string][], key: string) => attributes.find(([name]) => name === key)?.[1]

describe("event history: each event knows its record", () => {
  it("names the kind of record each event was read from and the waterfall rows drawing it", () => {
    const { data, chain } = loaded("diagnosed")
    const items = eventHistory(chain, data.records, { isOwnAction: () => true })
    expect(items.map((item) => [item.recordKind, item.rowIds])).toEqual([
      ["run", ["run:run_one"]],
      ["run", ["run:run_one"]],
      ["run", ["run:run_one"]],
      ["action", ["act:act_reload1", "req:req_reload1"]],
      ["lifecycle", ["lc:lc_reload1"]],
      ["run", ["run:run_one"]],
      ["lifecycle", ["lc:lc_reload1"]],
    ])
    const rows = new Set(buildWaterfall(chain, data.records).rows.map((row) => row.id))
    for (const item of items)
      expect(
        item.rowIds.every((id) => rows.has(id)),
        item.words,
      ).toBe(true)
  })

  it("a request no click made is a request, and a mismatch's request (the occasion, not the initiator) is never an action", () => {
    const partial = loaded("partially_diagnosed")
    const requested = eventHistory(partial.chain, partial.data.records).find(
      (item) => item.kind === "cause" && item.recordKind !== "lifecycle",
    )!
    expect([requested.recordKind, requested.rowIds]).toEqual(["request", ["req:req_reload1"]])

    const doc = exportFor("diagnosed")
    const detectedDuring = {
      requestId: "req_reload1",
      route: "/session/:id/prompt",
      method: "POST",
      clientKind: "app" as const,
      actionId: "act_reload1",
      actionName: "session.prompt",
      actionHeader: "present" as const,
    }
    const origin = {
      kind: "context_mismatch" as const,
      reason: "worktree_mismatch" as const,
      detectedDuring,
      provenance: { complete: true, missing: [] },
    }
    doc.diagnostics.lifecycle[0] = LifecycleAction.parse({
      ...doc.diagnostics.lifecycle[0]!,
      operation: "load_reload",
      rootOperation: "load_reload",
      origin,
    })
    const { data } = loaded(doc)
    const chain: IncidentChain = {
      ...loaded("diagnosed").chain,
      origin,
      operation: "load_reload",
      rootOperation: "load_reload",
      lifecyclePath: [{ lifecycleId: "lc_reload1", operation: "load_reload" }],
    }
    const items = eventHistory(chain, data.records, { isOwnAction: () => true })
    const noticed = items.find((item) => item.kind === "cause" && item.recordKind !== "lifecycle")!
    expect([noticed.recordKind, noticed.rowIds]).toEqual(["request", ["change:context", "req:req_reload1"]])
    expect(items.some((item) => item.recordKind === "action")).toBe(false)
  })

  it("carries every recorded attribute of its record, ids included", () => {
    const { data, chain } = loaded("diagnosed")
    const items = eventHistory(chain, data.records, { isOwnAction: () => true })
    const click = items.find((item) => item.recordKind === "action")!.attributes
    expect(valueOf(click, "requestId")).toBe("req_reload1")
    expect(valueOf(click, "route")).toBe("/instance/reload")
    expect(valueOf(click, "status")).toBe("200")
    expect(valueOf(click, "durationMs")).toBe("40")
    expect(valueOf(click, "time")).toBe(String(T0 + 3_450))
    expect(valueOf(click, "action.actionId")).toBe("act_reload1")
    expect(valueOf(click, "action.page")).toBe("/session/:id")
    const close = items.find((item) => item.recordKind === "lifecycle")!.attributes
    expect(valueOf(close, "lifecycleId")).toBe("lc_reload1")
    expect(valueOf(close, "origin.kind")).toBe("api_route")
    expect(valueOf(close, "origin.request.requestId")).toBe("req_reload1")
    expect(valueOf(close, "instances[0].instanceId")).toBe("ins_a")
    expect(valueOf(close, "runIds")).toBe("run_one")
    const start = items[0]!.attributes
    expect(valueOf(start, "runId")).toBe("run_one")
    expect(valueOf(start, "classification")).toBe("local_instance_reload")
    expect(valueOf(start, "retry.basis")).toBe("no_side_effects, visible_output_seen")
    expect(valueOf(start, "interrupt.lifecycle.lifecycleId")).toBe("lc_reload1")
    // An output event carries the run's id and its output facts, not the whole summary again.
    expect(items[1]!.attributes).toEqual([
      ["runId", "run_one"],
      ["provider.firstOutputAt", String(T0 + 200)],
      ["provider.lastOutputAt", String(T0 + 3_000)],
      ["provider.chunks", "4"],
      ["provider.progress", "true"],
    ])
  })

  it("a lost run's events carry its crash record; a tool step carries its tool fact", () => {
    const { data, chain } = loaded("crash_evidence")
    const items = eventHistory(chain, data.records)
    const tool = items.find((item) => item.words.startsWith("Tool"))!
    expect(tool.attributes).toEqual([
      ["runId", "run_one"],
      ["tool.callId", "call_1"],
      ["tool.name", "write"],
      ["tool.kind", "write"],
      ["tool.startedAt", String(T0 + 1_000)],
      ["tool.status", "running"],
    ])
    const restart = items.find((item) => item.kind === "unknown")!
    expect(restart.rowIds).toEqual(["restart"])
    expect(valueOf(restart.attributes, "bootId")).toBe("boot_a")
    expect(valueOf(restart.attributes, "detectedAt")).toBe(String(T0 + 60_000))
  })

  it("no private data: fields the records' schemas do not name, and the transcript's words, never reach the attributes", () => {
    const doc = exportFor("diagnosed")
    const secret = {
      prompt: "SECRET-PROMPT",
      input: { path: "SECRET-INPUT" },
      body: "SECRET-BODY",
      env: { OPENAI_API_KEY: "SECRET-KEY" },
    }
    for (const list of [
      doc.diagnostics.runs,
      doc.diagnostics.lifecycle,
      doc.diagnostics.requests,
      doc.diagnostics.renderer,
    ] as object[][]) {
      for (const record of list) Object.assign(record, secret)
    }
    Object.assign(doc.diagnostics.runs[0]!.provider, secret)
    Object.assign((doc.diagnostics.lifecycle[0]!.origin as { request: object }).request, secret)
    const { data, chain } = loaded(doc)
    const items = eventHistory(chain, data.records, {
      isOwnAction: () => true,
      lastOutput: "SECRET-OUTPUT",
      toolPaths: { call_1: "SECRET-PATH" },
    })
    const attributes = items.flatMap((item) => item.attributes)
    expect(JSON.stringify(attributes)).toContain("req_reload1")
    expect(JSON.stringify(attributes)).not.toContain("SECRET")
    for (const [key] of attributes)
      expect(
        key.split(/[.[]/).filter((part) => Object.keys(secret).includes(part)),
        key,
      ).toEqual([])
  })
})

function renderPanel(scenario: Scenario = "diagnosed") {
  render(() => (
    <IncidentPanelView data={exportData(exportFor(scenario))} width={900} context={{ isOwnAction: () => true }} />
  ))
  return { items: () => screen.getAllByTestId("history-item"), svg: screen.getByTestId("timeline-svg") }
}

describe("event history: a real history", () => {
  it("each row is a button that expands in place to its record's attributes, ids in a monospace block, and collapses again", () => {
    const { items } = renderPanel()
    const toggles = screen.getAllByTestId("history-toggle")
    expect(toggles.map((toggle) => [toggle.tagName, toggle.getAttribute("aria-expanded")])).toEqual(
      toggles.map(() => ["BUTTON", "false"]),
    )
    expect(screen.queryAllByTestId("history-attributes")).toHaveLength(0)
    const close = items().findIndex((item) => item.getAttribute("data-record-kind") === "lifecycle")
    fireEvent.click(toggles[close]!)
    expect(toggles[close]!.getAttribute("aria-expanded")).toBe("true")
    const block = within(items()[close]!).getByTestId("history-attributes")
    expect(toggles[close]!.getAttribute("aria-controls")).toBe(block.id)
    expect(block.classList.contains("event-attributes")).toBe(true)
    const pairs = Array.from(block.querySelectorAll("dt")).map((dt) => [
      dt.textContent,
      dt.nextElementSibling?.textContent,
    ])
    expect(pairs).toContainEqual(["lifecycleId", "lc_reload1"])
    expect(pairs).toContainEqual(["origin.request.requestId", "req_reload1"])
    // Times read as the clock too, beside the recorded number.
    expect(pairs.find(([key]) => key === "startedAt")?.[1]).toMatch(
      new RegExp(`^${T0 + 3_500} \\(\\d\\d:\\d\\d:\\d\\d\\.500\\)$`),
    )
    fireEvent.click(toggles[close]!)
    expect(toggles[close]!.getAttribute("aria-expanded")).toBe("false")
    expect(screen.queryAllByTestId("history-attributes")).toHaveLength(0)
  })

  it("filters by kind with a labelled group of toggle buttons", () => {
    const { items } = renderPanel()
    const group = screen.getByRole("group", { name: "Show events from" })
    const buttons = within(group).getAllByRole("button")
    expect(buttons.map((button) => [button.getAttribute("data-kind"), button.getAttribute("aria-pressed")])).toEqual([
      ["action", "true"],
      ["request", "true"],
      ["lifecycle", "true"],
      ["run", "true"],
    ])
    const kinds = () => items().map((item) => item.getAttribute("data-record-kind"))
    expect(kinds()).toEqual(["run", "run", "run", "action", "lifecycle", "run", "lifecycle"])
    fireEvent.click(within(group).getByRole("button", { name: /project lifecycle/i }))
    expect(kinds()).toEqual(["run", "run", "run", "action", "run"])
    fireEvent.click(within(group).getByRole("button", { name: /the run/i }))
    expect(kinds()).toEqual(["action"])
    expect(buttons.map((button) => button.getAttribute("aria-pressed"))).toEqual(["true", "true", "false", "false"])
    fireEvent.click(within(group).getByRole("button", { name: /project lifecycle/i }))
    expect(kinds()).toEqual(["action", "lifecycle", "lifecycle"])
  })

  it("sorts oldest or newest first; each event keeps its number", () => {
    const { items } = renderPanel()
    const numbers = () => items().map((item) => item.querySelector(".event-n")?.textContent)
    const words = () => items().map((item) => item.querySelector(".event-words")?.textContent)
    const oldest = words()
    expect(numbers()).toEqual(["1", "2", "3", "4", "5", "6", "7"])
    const order = screen.getByRole("group", { name: "Order" })
    fireEvent.click(within(order).getByRole("button", { name: "Newest first" }))
    expect(within(order).getByRole("button", { name: "Newest first" }).getAttribute("aria-pressed")).toBe("true")
    expect(within(order).getByRole("button", { name: "Oldest first" }).getAttribute("aria-pressed")).toBe("false")
    expect(numbers()).toEqual(["7", "6", "5", "4", "3", "2", "1"])
    expect(words()).toEqual([...oldest].reverse())
  })

  it("hovering or focusing a history row highlights its waterfall row, and a waterfall row its history rows", () => {
    const { items, svg } = renderPanel()
    const row = (id: string) => svg.querySelector(`g.wf-row[data-row="${id}"]`)!
    const close = items().find((item) => item.getAttribute("data-record-kind") === "lifecycle")!
    fireEvent.mouseEnter(close)
    expect(row("lc:lc_reload1").classList.contains("wf-linked")).toBe(true)
    expect(row("run:run_one").classList.contains("wf-linked")).toBe(false)
    fireEvent.mouseLeave(close)
    expect(svg.querySelectorAll(".wf-linked")).toHaveLength(0)
    within(close).getByTestId("history-toggle").focus()
    expect(row("lc:lc_reload1").classList.contains("wf-linked")).toBe(true)
    within(close).getByTestId("history-toggle").blur()
    expect(svg.querySelectorAll(".wf-linked")).toHaveLength(0)

    const linked = () =>
      items()
        .filter((item) => item.getAttribute("data-linked") === "true")
        .map((item) => item.getAttribute("data-record-kind"))
    row("req:req_reload1").dispatchEvent(new FocusEvent("focus"))
    expect(linked()).toEqual(["action"])
    row("req:req_reload1").dispatchEvent(new FocusEvent("blur"))
    expect(linked()).toEqual([])
    row("run:run_one").dispatchEvent(new MouseEvent("mouseenter"))
    expect(linked()).toEqual(["run", "run", "run", "run"])
  })
})
