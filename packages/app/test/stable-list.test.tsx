/**
 * Lists rebuilt from new objects (a refetch, a late event) keep each item's elements, so the
 * focus a person put in one stays there: on the same run's link, never moved to another run's.
 */
import { cleanup, render, screen } from "@solidjs/testing-library"
import { createSignal } from "solid-js"
import { afterEach, describe, expect, it } from "vitest"
import type { RunHistoryRow } from "../src/diagnostics/run-history.ts"
import { RunHistory } from "../src/pages/run-history-list.tsx"

afterEach(() => cleanup())

const row = (runId: string, startedAt: number, ending: string): RunHistoryRow => ({
  runId,
  startedAt,
  finishedAt: startedAt + 1_000,
  durationMs: 1_000,
  running: false,
  stopped: true,
  classification: "user_cancelled",
  ending,
})

const linkOf = (runId: string) =>
  screen
    .getAllByTestId("run-history-row")
    .find((item) => item.getAttribute("data-run-id") === runId)!
    .querySelector("a")!

describe("run history: a rebuilt list keeps the focus", () => {
  it("the focused link stays the same element, on the same run, through a rebuild and a new run on top", () => {
    const [rows, setRows] = createSignal([row("run_b", 2_000, "stopped by you"), row("run_a", 1_000, "stopped by you")])
    render(() => <RunHistory rows={rows()} sessionId="ses_1" onOpen={() => {}} />)
    const link = linkOf("run_a")
    link.focus()
    expect(document.activeElement).toBe(link)

    // The same rows rebuilt from new objects, one of them changed.
    setRows([row("run_b", 2_000, "stopped by you"), row("run_a", 1_000, "stopped by a project reload you clicked")])
    expect(document.activeElement).toBe(link)
    expect(link.isConnected).toBe(true)
    expect(link.closest("li")!.textContent).toContain("Stopped by a project reload you clicked")

    // A newer run listed first: the focus stays on run_a's link, not on whatever is in its old place.
    setRows([
      row("run_c", 3_000, "stopped by you"),
      row("run_b", 2_000, "stopped by you"),
      row("run_a", 1_000, "stopped by a project reload you clicked"),
    ])
    expect(document.activeElement).toBe(link)
    expect(link.closest("li")!.getAttribute("data-run-id")).toBe("run_a")
    expect(screen.getAllByTestId("run-history-row").map((item) => item.getAttribute("data-run-id"))).toEqual([
      "run_c",
      "run_b",
      "run_a",
    ])
  })
})
