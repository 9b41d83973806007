import { describe, expect, it } from "vitest"
import {
  classificationForOperation,
  classifyInterrupt,
  interruptMetaFromReason,
  rootOperationForClassification,
} from "../../src/provenance/classification.ts"
import { withProvenance } from "../../src/provenance/completeness.ts"
import { InterruptMeta, type LifecycleOperation } from "../../src/provenance/schemas.ts"
import { interruptOf, plainRequest } from "./records.ts"

const lifecycleMeta = (
  rootOperation: LifecycleOperation,
  operation: LifecycleOperation = rootOperation,
): InterruptMeta =>
  InterruptMeta.parse({
    ...interruptOf("user_cancel", "run_a"),
    kind: "lifecycle",
    lifecycle: {
      lifecycleId: "lc_child",
      operation,
      rootOperation,
      rootId: "lc_root",
      origin: withProvenance({ kind: "shutdown", signal: "SIGTERM" }),
    },
  })

describe("classificationForOperation", () => {
  it.each([
    ["reload", "local_instance_reload"],
    ["load_reload", "local_instance_reload"],
    ["dispose", "local_instance_dispose"],
    ["dispose_directory", "local_instance_dispose_directory"],
    ["dispose_all", "local_instance_dispose_all"],
  ] as const)("%s → %s", (operation, classification) => {
    expect(classificationForOperation(operation)).toBe(classification)
  })

  it("reads local_instance_reload back as reload (load_reload cannot be told apart without the action)", () => {
    expect(rootOperationForClassification("local_instance_reload")).toBe("reload")
    expect(rootOperationForClassification("user_cancelled")).toBeUndefined()
  })
})

describe("classifyInterrupt", () => {
  it("names the root operation, not the child that reached the run", () => {
    expect(classifyInterrupt(lifecycleMeta("dispose_all", "dispose_directory"), true, "aborted")).toBe(
      "local_instance_dispose_all",
    )
  })

  it.each([
    ["user_cancel", "user_cancelled"],
    ["watchdog", "watchdog_timeout"],
    ["remote", "remote_interrupted"],
  ] as const)("%s → %s", (kind, classification) => {
    const meta = InterruptMeta.parse(
      interruptOf(kind, "run_a", kind === "user_cancel" ? { request: plainRequest() } : {}),
    )
    expect(classifyInterrupt(meta, true, "aborted")).toBe(classification)
  })

  it("an aborted signal whose reason is not an InterruptMeta is unknown_interrupt", () => {
    const reason = interruptMetaFromReason(new DOMException("This operation was aborted", "AbortError"))
    expect(reason).toBeUndefined()
    expect(classifyInterrupt(reason, true, "aborted")).toBe("unknown_interrupt")
  })

  it("a lifecycle interrupt without its lifecycle action is unknown_interrupt", () => {
    const meta = InterruptMeta.parse({ ...interruptOf("user_cancel", "run_a"), kind: "lifecycle" })
    expect(classifyInterrupt(meta, true, "aborted")).toBe("unknown_interrupt")
  })

  it("once aborted, a thrown provider or tool error never reclassifies the run", () => {
    const meta = lifecycleMeta("reload")
    expect(classifyInterrupt(meta, true, "provider_error")).toBe("local_instance_reload")
    expect(classifyInterrupt(meta, true, "tool_error")).toBe("local_instance_reload")
    expect(classifyInterrupt(undefined, true, "tool_error")).toBe("unknown_interrupt")
  })

  it("without an abort, the run's own outcome stands (a late abort does not reclassify)", () => {
    expect(classifyInterrupt(lifecycleMeta("reload"), false, "completed")).toBe("completed")
    expect(classifyInterrupt(undefined, false, "provider_error")).toBe("provider_error")
    expect(classifyInterrupt(undefined, false, "tool_error")).toBe("tool_error")
  })

  it("an abort error with no aborted signal is unknown_interrupt, not completed", () => {
    expect(classifyInterrupt(undefined, false, "aborted")).toBe("unknown_interrupt")
  })

  it("reads an InterruptMeta off the signal as a parsed record", () => {
    const controller = new AbortController()
    const meta = lifecycleMeta("dispose")
    controller.abort(meta)
    expect(interruptMetaFromReason(controller.signal.reason)).toEqual(meta)
  })
})
