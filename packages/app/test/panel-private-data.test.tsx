/**
 * Rule 2: no tool input, secret or env in the diagnostic views. The panel adds transcript facts
 * the export deliberately leaves out (the tool call's path from its input; the last output line),
 * unredacted, into its headline, retry advice and event history.
 */
import { render, screen } from "@solidjs/testing-library"
import { RunSummary } from "opencode/provenance/schemas"
import { expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import { exportFor, T0 } from "./fixtures.ts"

it("the diagnostic panel shows no tool input and no secret", () => {
  const doc = exportFor("diagnosed")
  doc.diagnostics.runs[0] = RunSummary.parse({
    ...doc.diagnostics.runs[0]!,
    tools: [
      {
        callId: "call_1",
        name: "write",
        kind: "write",
        startedAt: T0 + 1_000,
        completedAt: T0 + 1_200,
        status: "completed",
      },
    ],
    retry: { safe: false, basis: ["kind:write"] },
  })
  const secret = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
  render(() => (
    <IncidentPanelView
      data={exportData(doc)}
      width={900}
      context={{
        isOwnAction: () => false,
        // What session-view.tsx's transcriptContext() hands the panel for this run.
        lastOutput: `export OPENAI_API_KEY=${secret}`,
        toolPaths: { call_1: "/home/alice/.aws/credentials" },
      }}
    />
  ))
  const text = screen.getByTestId("incident-panel").textContent ?? ""
  expect.soft(text).not.toContain(secret)
  expect(text).not.toContain("/home/alice/.aws/credentials")
})
