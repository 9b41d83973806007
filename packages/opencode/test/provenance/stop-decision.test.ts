/**
 * The interrupt-wins rule, decided by one function: an interrupt that arrived before the run's
 * final state classifies it and drops the error its close caused; otherwise the run's own
 * outcome and error stand.
 */
import { describe, expect, it } from "vitest"
import { decideStop } from "../../src/provenance/classification.ts"
import { withProvenance } from "../../src/provenance/completeness.ts"
import { InterruptMeta } from "../../src/provenance/schemas.ts"
import { isReopening, reopens } from "../../src/project/instance.ts"
import { interruptOf, lifecycleAction, plainRequest } from "./records.ts"

const reload = InterruptMeta.parse({
  ...interruptOf("user_cancel", "run_a"),
  kind: "lifecycle",
  lifecycle: {
    lifecycleId: "lc_a",
    operation: "reload",
    rootOperation: "reload",
    rootId: "lc_a",
    origin: withProvenance({ kind: "api_route", request: plainRequest() }),
  },
})
const fact = { code: "ECONNRESET", class: "Error" }

describe("decideStop", () => {
  it("an interrupt before the finish wins over the error the close caused", () => {
    expect(decideStop(reload, true, "provider_error", fact)).toEqual({
      classification: "local_instance_reload",
      interrupt: reload,
    })
    expect(decideStop(reload, true, "tool_error", fact)).toEqual({
      classification: "local_instance_reload",
      interrupt: reload,
    })
  })

  it("an abort without an interrupt is unknown_interrupt, never the error", () => {
    expect(decideStop(new Error("aborted"), true, "provider_error", fact)).toEqual({
      classification: "unknown_interrupt",
    })
  })

  it("without an abort before the finish, the run's own outcome and error stand", () => {
    expect(decideStop(reload, false, "provider_error", fact)).toEqual({ classification: "provider_error", error: fact })
    expect(decideStop(undefined, false, "completed")).toEqual({ classification: "completed" })
  })
})

describe("reopens", () => {
  it("reload and load_reload open the next generation; disposes do not", () => {
    expect((["reload", "load_reload", "dispose", "dispose_directory", "dispose_all"] as const).filter(reopens)).toEqual(
      ["reload", "load_reload"],
    )
  })

  it("an instance is reopening only while a reopening action closes it", () => {
    const closingBy = (operation: "reload" | "dispose") =>
      ({ closingBy: lifecycleAction("lc_b", operation, { kind: "api_route", request: plainRequest() }) }) as Parameters<
        typeof isReopening
      >[0]
    expect([isReopening(closingBy("reload")), isReopening(closingBy("dispose")), isReopening(undefined)]).toEqual([
      true,
      false,
      false,
    ])
  })
})
