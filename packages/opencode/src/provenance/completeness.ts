/**
 * The one completeness function (docs/architecture.md, "Origins and the completeness function"): which fields and hops each origin kind
 * requires, and which of them an origin lacks. The server stamps `provenance` with it, the
 * export re-derives verdicts with it, and the reader re-checks imported chains with it, so the
 * three can never disagree about what "complete" means.
 */
import type { z } from "zod"
import {
  ApiRouteOrigin,
  ConfigInvalidationOrigin,
  ContextMismatchOrigin,
  ForwardedRemoteOrigin,
  type Hop,
  Origin,
  type OriginInput,
  type OriginKind,
  type Provenance,
  type RequestRef,
  ServerHandlerOrigin,
  ShutdownOrigin,
  UnknownOrigin,
} from "./schemas.ts"
import { unique } from "./unique.ts"

/** What `unknown` names when its caller names nothing: no lifecycle action carried a cause. */
const DEFAULT_UNKNOWN_MISSING: readonly string[] = ["lifecycle_action"]

interface ProvenanceContext {
  /** For an `unknown` origin: the names of what was absent (default `["lifecycle_action"]`). */
  unknownMissing?: readonly string[]
}

type AnyOrigin = OriginInput | Origin

/**
 * Whether an origin's initiator is fully recorded, and the names of what is not.
 *
 * @example computeProvenance({ kind: "shutdown", signal: "SIGTERM" }) // { complete: true, missing: [] }
 */
export function computeProvenance(origin: AnyOrigin, ctx: ProvenanceContext = {}): Provenance {
  const missing: string[] = []
  switch (origin.kind) {
    case "api_route":
      if (!origin.request) missing.push("request")
      // The renderer hop is present from the request's own headers; the uploaded log only adds detail.
      else if (origin.request.clientKind === "app" && !origin.request.actionId) missing.push("renderer_action")
      break
    case "context_mismatch":
      if (!origin.reason) missing.push("mismatch_reason")
      if (!origin.before) missing.push("digest_before")
      if (!origin.after) missing.push("digest_after")
      if (!origin.detectedDuring) missing.push("detected_during")
      break
    case "config_invalidation":
      if (!origin.scope) missing.push("scope")
      if (!origin.fileKey) missing.push("file_key")
      if (!origin.change) missing.push("change_kind")
      if (configWrittenByRoute(origin) && !origin.request) missing.push("request")
      break
    case "server_handler":
      if (!origin.handler) missing.push("handler")
      break
    case "shutdown":
      if (!origin.signal) missing.push("signal")
      break
    case "forwarded_remote":
      if (!origin.workspaceId) missing.push("workspace_id")
      break
    case "unknown": {
      // Never complete: an unknown origin always names what was absent.
      const given = ctx.unknownMissing ?? ("provenance" in origin ? origin.provenance.missing : [])
      return { complete: false, missing: unique(given.length > 0 ? given : DEFAULT_UNKNOWN_MISSING) }
    }
  }
  return { complete: missing.length === 0, missing }
}

/** A config change is ours to attribute when our route says it wrote it, or carries its request. */
function configWrittenByRoute(origin: {
  writtenByRoute?: boolean | undefined
  request?: RequestRef | undefined
}): boolean {
  return origin.writtenByRoute === true || origin.request !== undefined
}

const schemaOfKind: Record<OriginKind, z.ZodObject<z.ZodRawShape>> = {
  api_route: ApiRouteOrigin,
  server_handler: ServerHandlerOrigin,
  config_invalidation: ConfigInvalidationOrigin,
  context_mismatch: ContextMismatchOrigin,
  shutdown: ShutdownOrigin,
  forwarded_remote: ForwardedRemoteOrigin,
  unknown: UnknownOrigin,
}

/**
 * Completes an origin with its provenance, through the allow-list schema. A field that does not
 * parse is dropped (and so counted as missing) rather than failing the close that carries it,
 * the same rule as for a malformed provenance header.
 *
 * @example withProvenance({ kind: "server_handler", handler: "directory_watch" })
 */
export function withProvenance(origin: OriginInput, ctx: ProvenanceContext = {}): Origin {
  const kind = (origin as { kind?: unknown }).kind
  const schema = typeof kind === "string" ? schemaOfKind[kind as OriginKind] : undefined
  if (!schema) {
    return {
      kind: "unknown",
      provenance: computeProvenance(
        { kind: "unknown" },
        { unknownMissing: ["origin.kind", ...(ctx.unknownMissing ?? DEFAULT_UNKNOWN_MISSING)] },
      ),
    }
  }
  const kept: Record<string, unknown> = { kind }
  for (const [field, fieldSchema] of Object.entries(schema.shape)) {
    if (field === "kind" || field === "provenance") continue
    const value = (origin as Record<string, unknown>)[field]
    if (value === undefined) continue
    const parsed = (fieldSchema as z.ZodType).safeParse(value)
    if (parsed.success) kept[field] = parsed.data
  }
  const sanitized = kept as OriginInput
  return Origin.parse({ ...sanitized, provenance: computeProvenance(sanitized, ctx) })
}

/**
 * How a hop relates to an origin: `required` (its absence is a gap), `not_applicable`,
 * `remote_reported` (known to the remote only), or `undetermined` (the record that would say
 * whether it applies is itself absent; shown as missing, not counted as a separate gap).
 */
export type HopRequirement = "required" | "not_applicable" | "remote_reported" | "undetermined"
export type HopPlan = Record<Hop, HopRequirement>

/**
 * What stopped the run, which decides the lifecycle and interrupt hops: a lifecycle close,
 * a user cancel, the watchdog, a remote stream close, a provider/tool error (no interrupt at
 * all), or a process exit without a finalizer.
 */
export type StopCause = "lifecycle" | "user_cancel" | "watchdog" | "remote" | "error" | "crash"

/**
 * For each hop, whether this origin kind requires it (the table in docs/architecture.md, extended with the
 * hops after the initiator).
 *
 * @example hopPlan({ kind: "shutdown", signal: "SIGTERM" }).request // "not_applicable"
 */
export function hopPlan(origin: AnyOrigin, cause: StopCause = "lifecycle"): HopPlan {
  // A process exit has no initiator to trace: only its missing interrupt and summary are gaps.
  const initiator: Pick<HopPlan, "renderer" | "request"> =
    cause === "crash" ? { renderer: "not_applicable", request: "not_applicable" } : initiatorHops(origin)
  return {
    renderer: initiator.renderer,
    request: initiator.request,
    lifecycle: lifecycleRequirement(origin.kind, cause),
    interrupt: cause === "error" ? "not_applicable" : "required",
    run_summary: "required",
  }
}

function initiatorHops(origin: AnyOrigin): Pick<HopPlan, "renderer" | "request"> {
  switch (origin.kind) {
    case "api_route":
      if (!origin.request) return { renderer: "undetermined", request: "required" }
      return { renderer: origin.request.clientKind === "app" ? "required" : "not_applicable", request: "required" }
    case "context_mismatch":
      // The request is the occasion `load` ran in, not the initiator: the renderer never applies.
      return { renderer: "not_applicable", request: "required" }
    case "config_invalidation":
      return { renderer: "not_applicable", request: configWrittenByRoute(origin) ? "required" : "not_applicable" }
    case "server_handler":
    case "shutdown":
      return { renderer: "not_applicable", request: "not_applicable" }
    case "forwarded_remote":
      return { renderer: "remote_reported", request: "remote_reported" }
    case "unknown":
      return { renderer: "undetermined", request: "undetermined" }
  }
}

function lifecycleRequirement(kind: OriginKind, cause: StopCause): HopRequirement {
  if (kind === "forwarded_remote" || cause === "remote") return "remote_reported"
  return cause === "lifecycle" ? "required" : "not_applicable"
}

/** The request an origin links to, whatever its role (initiator, writer, or occasion). */
export function originRequest(origin: AnyOrigin): RequestRef | undefined {
  switch (origin.kind) {
    case "api_route":
    case "config_invalidation":
      return origin.request
    case "context_mismatch":
      return origin.detectedDuring
    default:
      return undefined
  }
}
