import { describe, expect, it } from "vitest"
import { deriveRetry } from "../../src/provenance/retry.ts"

describe("deriveRetry (the retry table of docs/protocol.md)", () => {
  it.each(["write", "exec", "network"] as const)("a started %s tool is not safe", (kind) => {
    expect(deriveRetry({ tools: [{ kind }], toolFactsRecorded: true })).toEqual({
      safe: false,
      basis: ["side_effect_tool_started", `kind:${kind}`],
    })
  })

  it("names every side-effect kind that started, alongside reads", () => {
    expect(
      deriveRetry({
        tools: [{ kind: "read" }, { kind: "network" }, { kind: "write" }, { kind: "write" }],
        toolFactsRecorded: true,
      }),
    ).toEqual({
      safe: false,
      basis: ["side_effect_tool_started", "kind:write", "kind:network"],
    })
  })

  it("no tool, facts recorded: safe", () => {
    expect(deriveRetry({ tools: [], toolFactsRecorded: true })).toEqual({ safe: true, basis: ["no_side_effects"] })
  })

  it("only read tools: safe, and says when the user saw partial output", () => {
    expect(deriveRetry({ tools: [{ kind: "read" }], toolFactsRecorded: true, visibleOutput: true })).toEqual({
      safe: true,
      basis: ["no_side_effects", "visible_output_seen"],
    })
  })

  it("tool facts not recorded: unknown, never true", () => {
    expect(deriveRetry({ toolFactsRecorded: false })).toEqual({ safe: "unknown", basis: ["tool_facts_not_recorded"] })
    expect(deriveRetry({ tools: [{ kind: "read" }], toolFactsRecorded: false, visibleOutput: true })).toEqual({
      safe: "unknown",
      basis: ["tool_facts_not_recorded"],
    })
  })

  it("a recorded side effect is decisive even when the other facts were lost", () => {
    expect(deriveRetry({ tools: [{ kind: "exec" }], toolFactsRecorded: false }).safe).toBe(false)
  })

  it("a started tool of unknown kind is never safe", () => {
    expect(deriveRetry({ tools: [{ kind: "unknown" }], toolFactsRecorded: true })).toEqual({
      safe: "unknown",
      basis: ["tool_kind_not_recorded"],
    })
    expect(deriveRetry({ tools: [{ kind: "unknown" }, { kind: "write" }], toolFactsRecorded: true }).safe).toBe(false)
  })
})
