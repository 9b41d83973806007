/**
 * Rule 2 with planted canaries: the transcript facts the panel is handed (a tool call's path, the
 * last output line) never reach any diagnostic view as given. A tool is named by its name and kind
 * only; the output line is scrubbed with the server's own secret rules and capped.
 */
import { cleanup, render, screen } from "@solidjs/testing-library"
import { CrashEvidence, RunSummary } from "opencode/provenance/schemas"
import { afterEach, describe, expect, it } from "vitest"
import { exportData } from "../src/diagnostics/export-data.ts"
import { IncidentPanelView } from "../src/diagnostics/incident-panel.tsx"
import {
  eventHistory,
  headlineWords,
  retryAdvice,
  safeOutputLine,
  type StoryContext,
} from "../src/diagnostics/story.ts"
import { buildWaterfall, rowDetails } from "../src/diagnostics/waterfall.ts"
import { exportFor, type Scenario, T0 } from "./fixtures.ts"

afterEach(cleanup)

const PATHS = {
  call_1: "/home/alice/.aws/credentials",
  call_2: "notes/private-plan.txt",
}
const CANARIES: { name: string; line: string; secret: string }[] = [
  {
    name: "an OpenAI key in an env line",
    line: "export OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    secret: "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
  },
  { name: "an AWS access key id", line: "using key AKIAIOSFODNN7EXAMPLE for s3", secret: "AKIAIOSFODNN7EXAMPLE" },
  {
    name: "an AWS secret access key",
    line: "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    secret: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
  },
  {
    name: "a GitHub token",
    line: "pushed with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    secret: "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
  },
  {
    name: "a bearer header",
    line: "curl -H 'Authorization: Bearer tok_live_9f8e7d6c5b4a3210' https://api.example.com",
    secret: "tok_live_9f8e7d6c5b4a3210",
  },
  { name: "a bare bearer token", line: "sent Bearer q1w2e3r4t5y6u7i8o9p0", secret: "q1w2e3r4t5y6u7i8o9p0" },
  {
    name: "the tool's path, quoted in the output",
    line: "Wrote /home/alice/.aws/credentials and notes/private-plan.txt",
    secret: "alice",
  },
  {
    name: "a secret cut in half by the transcript's own cut",
    line: `${"Done with the setup, now pushing the branch to origin using ".padEnd(70, ".")} ghp_aBcDe…`,
    secret: "ghp_aBcDe",
  },
]

function withTools(scenario: Scenario) {
  const doc = exportFor(scenario)
  const tools = [
    {
      callId: "call_1",
      name: "write",
      kind: "write" as const,
      startedAt: T0 + 1_000,
      completedAt: T0 + 1_200,
      status: "completed" as const,
    },
    { callId: "call_2", name: "bash", kind: "exec" as const, startedAt: T0 + 1_300, status: "running" as const },
  ]
  if (scenario === "crash_evidence")
    doc.diagnostics.crashes[0] = CrashEvidence.parse({ ...doc.diagnostics.crashes[0]!, tools })
  else
    doc.diagnostics.runs[0] = RunSummary.parse({
      ...doc.diagnostics.runs[0]!,
      tools,
      retry: { safe: false, basis: ["kind:write", "kind:exec"] },
    })
  return doc
}

function everything(scenario: Scenario, context: StoryContext): string {
  const doc = withTools(scenario)
  const data = exportData(doc)
  if (!data.read.ok) throw new Error(data.read.error)
  const chain = data.read.incidents[0]!
  render(() => <IncidentPanelView data={data} width={900} context={context} />)
  const panel = screen.getByTestId("incident-panel")
  const model = buildWaterfall(chain, data.records, context)
  return [
    panel.textContent ?? "",
    // Attributes too: titles, labels and data attributes are read by screen readers and tooltips.
    panel.outerHTML,
    headlineWords(chain, data.records, context),
    retryAdvice(chain, data.records).words,
    ...retryAdvice(chain, data.records).tools,
    ...eventHistory(chain, data.records, context).flatMap((item) => [item.words, ...item.attributes.flat()]),
    ...model.rows.flatMap((row) => [row.name, ...rowDetails(row, model.t0).flat()]),
  ].join("\n")
}

describe("the diagnostic panel never shows a tool input or a secret", () => {
  for (const scenario of ["diagnosed", "crash_evidence"] as const) {
    for (const canary of CANARIES) {
      it(`${scenario}: ${canary.name}`, () => {
        const text = everything(scenario, { isOwnAction: () => true, lastOutput: canary.line, toolPaths: PATHS })
        expect(text).not.toContain(canary.secret)
        for (const path of Object.values(PATHS)) expect(text).not.toContain(path)
      })
    }
  }

  it("a tool is named by its name and what it can do, in the retry advice and the history", () => {
    const text = everything("diagnosed", { isOwnAction: () => true, toolPaths: PATHS })
    expect(text).toContain("`write` (can write files) completed at 1.2 s")
    expect(text).toContain("`bash` (can run commands) started at 1.3 s and may not have finished")
    expect(text).toContain("Tool write started (can write files)")
    expect(text).not.toContain("private-plan")
  })

  it("the scrubbed output line is still shown, with a visible marker where a secret was", () => {
    const text = everything("diagnosed", { lastOutput: CANARIES[0]!.line, toolPaths: PATHS })
    expect(text).toContain("(last output shown: “export OPENAI_API_KEY=[redacted:api_key]”)")
    cleanup()
    const lost = everything("crash_evidence", { lastOutput: CANARIES[1]!.line, toolPaths: PATHS })
    expect(lost).toContain("(its output had reached “using key [redacted:aws_key] for s3”)")
  })
})

describe("safeOutputLine", () => {
  it("applies the server's secret rules, hides paths and the transcript's tool paths", () => {
    expect(safeOutputLine("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok")).toBe("token [redacted:github_token] ok")
    expect(safeOutputLine("key AKIAIOSFODNN7EXAMPLE")).toBe("key [redacted:aws_key]")
    expect(safeOutputLine("Authorization: Bearer abcdef123456")).toBe("Authorization: [redacted:authorization]")
    expect(safeOutputLine("saved to /home/alice/project/.env")).toBe("saved to [path]")
    expect(safeOutputLine("edited notes/private-plan.txt", PATHS)).toBe("edited [redacted:path]")
    expect(safeOutputLine("a long token 0123456789abcdefABCDEF0123456789xyz")).toBe("a long token [redacted:token]")
  })

  it("is capped, drops control characters, and drops the word a cut went through", () => {
    const long = "word ".repeat(200)
    expect(safeOutputLine(long)!.length).toBeLessThanOrEqual(80)
    expect(safeOutputLine("a\u001b[31mred\u0007 line")).toBe("a [31mred line")
    expect(safeOutputLine("pushing with ghp_aBcD…")).toBe("pushing with …")
    expect(safeOutputLine("x".repeat(5_000))).toBeUndefined()
    expect(safeOutputLine("")).toBeUndefined()
    expect(safeOutputLine("Working on step 9 of 60.")).toBe("Working on step 9 of 60.")
  })
})
