import { describe, expect, it } from "vitest"
import { computeProvenance, hopPlan, withProvenance } from "../../src/provenance/completeness.ts"
import { Origin, type OriginInput } from "../../src/provenance/schemas.ts"
import { appRequest, plainRequest } from "./records.ts"

const digestA = "aaaaaaaaaaaaaaaa"
const digestB = "bbbbbbbbbbbbbbbb"

/** Every origin kind, complete, with the missing name each of its required fields produces. */
const cases: { name: string; complete: OriginInput; drops: [field: string, missingName: string][] }[] = [
  {
    name: "api_route from the app",
    complete: { kind: "api_route", request: appRequest() },
    drops: [["request", "request"]],
  },
  {
    name: "api_route from a plain client",
    complete: { kind: "api_route", request: plainRequest() },
    drops: [["request", "request"]],
  },
  {
    name: "context_mismatch",
    complete: {
      kind: "context_mismatch",
      reason: "worktree_mismatch",
      before: digestA,
      after: digestB,
      detectedDuring: plainRequest(),
    },
    drops: [
      ["reason", "mismatch_reason"],
      ["before", "digest_before"],
      ["after", "digest_after"],
      ["detectedDuring", "detected_during"],
    ],
  },
  {
    name: "config_invalidation (external edit)",
    complete: { kind: "config_invalidation", scope: "project", fileKey: digestA, change: "modified" },
    drops: [
      ["scope", "scope"],
      ["fileKey", "file_key"],
      ["change", "change_kind"],
    ],
  },
  {
    name: "config_invalidation written by our route",
    complete: {
      kind: "config_invalidation",
      scope: "project",
      fileKey: digestA,
      change: "modified",
      writtenByRoute: true,
      request: plainRequest({ route: "/config", method: "PATCH" }),
    },
    drops: [["request", "request"]],
  },
  {
    name: "server_handler",
    complete: { kind: "server_handler", handler: "directory_watch" },
    drops: [["handler", "handler"]],
  },
  { name: "shutdown", complete: { kind: "shutdown", signal: "SIGTERM" }, drops: [["signal", "signal"]] },
  {
    name: "forwarded_remote",
    complete: { kind: "forwarded_remote", workspaceId: "ws_1" },
    drops: [["workspaceId", "workspace_id"]],
  },
]

describe("computeProvenance", () => {
  for (const { name, complete, drops } of cases) {
    it(`${name}: complete when every required field is present`, () => {
      expect(computeProvenance(complete)).toEqual({ complete: true, missing: [] })
    })
    for (const [field, missingName] of drops) {
      it(`${name}: names "${missingName}" when ${field} is absent`, () => {
        const { [field]: _dropped, ...rest } = complete as Record<string, unknown>
        expect(computeProvenance(rest as OriginInput)).toEqual({ complete: false, missing: [missingName] })
      })
    }
  }

  it("an app request without an action id is missing the renderer action", () => {
    const request = appRequest({ actionId: undefined, actionName: undefined, actionHeader: "absent" })
    expect(computeProvenance({ kind: "api_route", request })).toEqual({ complete: false, missing: ["renderer_action"] })
  })

  it("an app request whose action header was invalid is missing the renderer action too", () => {
    const request = appRequest({ actionId: undefined, actionHeader: "invalid" })
    expect(computeProvenance({ kind: "api_route", request }).missing).toEqual(["renderer_action"])
  })

  it("a plain client never needs a renderer action", () => {
    expect(computeProvenance({ kind: "api_route", request: plainRequest({ actionId: undefined }) }).complete).toBe(true)
  })

  it("context_mismatch does not require the renderer of the request it was detected during", () => {
    const detectedDuring = appRequest({ actionId: undefined, actionHeader: "absent" })
    const origin: OriginInput = {
      kind: "context_mismatch",
      reason: "config_digest_mismatch",
      before: digestA,
      after: digestB,
      detectedDuring,
    }
    expect(computeProvenance(origin)).toEqual({ complete: true, missing: [] })
  })

  it("a request on a config change means our route wrote it, even without the flag", () => {
    const origin: OriginInput = {
      kind: "config_invalidation",
      scope: "global",
      fileKey: digestA,
      change: "modified",
      request: plainRequest(),
    }
    expect(computeProvenance(origin).complete).toBe(true)
    expect(hopPlan(origin).request).toBe("required")
  })

  it("names every absent field of an empty origin, in order", () => {
    expect(computeProvenance({ kind: "context_mismatch" }).missing).toEqual([
      "mismatch_reason",
      "digest_before",
      "digest_after",
      "detected_during",
    ])
    expect(computeProvenance({ kind: "config_invalidation", writtenByRoute: true }).missing).toEqual([
      "scope",
      "file_key",
      "change_kind",
      "request",
    ])
  })

  describe("unknown", () => {
    it("is never complete and names lifecycle_action by default", () => {
      expect(computeProvenance({ kind: "unknown" })).toEqual({ complete: false, missing: ["lifecycle_action"] })
    })
    it("keeps the names its caller gives", () => {
      expect(
        computeProvenance(
          { kind: "unknown", closeSite: "scope_close" },
          { unknownMissing: ["lifecycle_action", "interrupt_meta"] },
        ),
      ).toEqual({
        complete: false,
        missing: ["lifecycle_action", "interrupt_meta"],
      })
    })
    it("falls back to the default when the caller gives an empty list", () => {
      expect(computeProvenance({ kind: "unknown" }, { unknownMissing: [] })).toEqual({
        complete: false,
        missing: ["lifecycle_action"],
      })
    })
    it("keeps an already stamped origin's own names", () => {
      expect(
        computeProvenance({ kind: "unknown", provenance: { complete: false, missing: ["run_summary"] } }).missing,
      ).toEqual(["run_summary"])
    })
  })
})

describe("withProvenance", () => {
  it("stamps the computed provenance and parses through the schema", () => {
    const origin = withProvenance({ kind: "api_route", request: appRequest() })
    expect(Origin.parse(origin)).toEqual(origin)
    expect(origin.provenance).toEqual({ complete: true, missing: [] })
  })

  it("drops a field that fails its schema and counts it as missing instead of throwing", () => {
    const origin = withProvenance({ kind: "server_handler", handler: "Not A Valid Name!" })
    expect(origin).toEqual({ kind: "server_handler", provenance: { complete: false, missing: ["handler"] } })
  })

  it("strips fields outside the allow-list", () => {
    const origin = withProvenance({ kind: "shutdown", signal: "SIGINT", env: { SECRET: "x" } } as OriginInput)
    expect(origin).toEqual({ kind: "shutdown", signal: "SIGINT", provenance: { complete: true, missing: [] } })
  })

  it("turns an origin of no known kind into unknown, naming the kind", () => {
    const origin = withProvenance({ kind: "bogus" } as unknown as OriginInput)
    expect(origin.kind).toBe("unknown")
    expect(origin.provenance).toEqual({ complete: false, missing: ["origin.kind", "lifecycle_action"] })
  })

  it("ignores a provenance claim and recomputes it", () => {
    const claimed = { kind: "shutdown", provenance: { complete: true, missing: [] } } as unknown as OriginInput
    expect(withProvenance(claimed).provenance).toEqual({ complete: false, missing: ["signal"] })
  })
})

describe("hopPlan", () => {
  it("api_route from the app requires renderer and request", () => {
    expect(hopPlan({ kind: "api_route", request: appRequest() })).toEqual({
      renderer: "required",
      request: "required",
      lifecycle: "required",
      interrupt: "required",
      run_summary: "required",
    })
  })
  it("api_route from a plain client: renderer not applicable", () => {
    expect(hopPlan({ kind: "api_route", request: plainRequest() }).renderer).toBe("not_applicable")
  })
  it("api_route with no request cannot tell whether a renderer applies", () => {
    expect(hopPlan({ kind: "api_route" })).toMatchObject({ renderer: "undetermined", request: "required" })
  })
  it("context_mismatch requires the request it was detected during, never the renderer", () => {
    expect(hopPlan({ kind: "context_mismatch" })).toMatchObject({ renderer: "not_applicable", request: "required" })
  })
  it("config_invalidation requires a request only when our route wrote it", () => {
    expect(hopPlan({ kind: "config_invalidation" })).toMatchObject({
      renderer: "not_applicable",
      request: "not_applicable",
    })
    expect(hopPlan({ kind: "config_invalidation", writtenByRoute: true })).toMatchObject({ request: "required" })
  })
  it("server_handler and shutdown need neither request nor renderer", () => {
    for (const origin of [{ kind: "server_handler" }, { kind: "shutdown" }] as OriginInput[]) {
      expect(hopPlan(origin)).toMatchObject({
        renderer: "not_applicable",
        request: "not_applicable",
        lifecycle: "required",
      })
    }
  })
  it("forwarded_remote: every remote hop is remote_reported", () => {
    expect(hopPlan({ kind: "forwarded_remote", workspaceId: "ws_1" })).toEqual({
      renderer: "remote_reported",
      request: "remote_reported",
      lifecycle: "remote_reported",
      interrupt: "required",
      run_summary: "required",
    })
  })
  it("unknown: the initiator hops are undetermined, the lifecycle hop required", () => {
    expect(hopPlan({ kind: "unknown" })).toMatchObject({
      renderer: "undetermined",
      request: "undetermined",
      lifecycle: "required",
    })
  })
  it("stops that are not lifecycle closes have no lifecycle hop; errors have no interrupt hop", () => {
    expect(hopPlan({ kind: "server_handler", handler: "watchdog" }, "watchdog")).toMatchObject({
      lifecycle: "not_applicable",
      interrupt: "required",
    })
    expect(hopPlan({ kind: "server_handler", handler: "provider" }, "error")).toMatchObject({
      lifecycle: "not_applicable",
      interrupt: "not_applicable",
    })
    expect(hopPlan({ kind: "api_route", request: appRequest() }, "user_cancel")).toMatchObject({
      renderer: "required",
      lifecycle: "not_applicable",
    })
  })
  it("a crash has no initiator hops to trace", () => {
    expect(hopPlan({ kind: "unknown" }, "crash")).toEqual({
      renderer: "not_applicable",
      request: "not_applicable",
      lifecycle: "not_applicable",
      interrupt: "required",
      run_summary: "required",
    })
  })
})
