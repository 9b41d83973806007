/**
 * The causal spine's records. Every diagnostic record the server keeps, publishes or exports
 * is parsed through one of these schemas: they are allow-lists, so a field that is not named
 * here never leaves the process. Types are `z.infer` of the schemas; never cast around them.
 */
import { z } from "zod"
import { SPAN_ID_PATTERN, TRACE_ID_PATTERN } from "./trace-context.ts"

/**
 * The size limits of the spine's records, named once: the schemas declare them and every writer
 * or reader that clamps a record to fit imports them from here.
 */
/** Tools a run summary or crash evidence keeps (the rest are counted in `toolsDropped`). */
export const MAX_SUMMARY_TOOLS = 64
/** A tool fact's `callId` and `name`. */
export const MAX_TOOL_FIELD = 64
/** A model reference, `provider/model`. */
export const MAX_MODEL_REF = 128
/** Later requests to stop a run that is already stopping. */
export const MAX_ALSO_REQUESTED = 64
/** Where a run was closed without an `InterruptMeta`. */
export const MAX_CLOSE_SITE = 64
/** Directory keys, and instances, a lifecycle action names. */
export const MAX_ACTION_KEYS = 64
/** Runs a lifecycle action names. */
export const MAX_ACTION_RUN_IDS = 256
/** Close steps that threw, kept on a lifecycle action. */
export const MAX_ACTION_FAILURES = 8

const id = (prefix: string) => z.string().regex(new RegExp(`^${prefix}_[A-Za-z0-9_-]{1,64}$`))

export const ActionId = z.string().regex(/^act_[A-Za-z0-9_-]{1,64}$/)
export const ActionName = z.string().regex(/^[a-z0-9_.]{1,64}$/)
export const RequestId = id("req")
export const LifecycleId = id("lc")
export const RunId = id("run")
export const SessionId = id("ses")
export const InstanceId = id("ins")
/** W3C trace ids: lowercase hex, not all zero (`trace-context.ts`). */
export const TraceId = z.string().regex(new RegExp(TRACE_ID_PATTERN))
export const SpanId = z.string().regex(new RegExp(SPAN_ID_PATTERN))

export const ClientKind = z.enum(["app", "plain"])
export type ClientKind = z.infer<typeof ClientKind>

/** Hop 1: an action the user took in the renderer. Client-reported: display facts only. */
export const ClientAction = z.object({
  actionId: ActionId,
  name: ActionName,
  /** A route template (`/session/:id`), never a URL with titles or paths. */
  page: z.string().regex(/^\/[A-Za-z0-9_:/.-]{0,128}$/),
  time: z.number().int().nonnegative(),
  requestIds: z.array(RequestId).max(32).default([]),
  outcome: z.enum(["pending", "ok", "error"]).default("pending"),
  /** The W3C trace the app started for the action, and the action's own (root) span in it. */
  traceId: TraceId.optional(),
  spanId: SpanId.optional(),
})
export type ClientAction = z.infer<typeof ClientAction>

/** Hop 2: one request as the server saw it. Built only from named headers and the route template. */
export const RequestContext = z.object({
  requestId: RequestId,
  seq: z.number().int().nonnegative(),
  time: z.number().int().nonnegative(),
  method: z.string().max(16),
  route: z.string().max(128),
  clientKind: ClientKind,
  clientVersion: z.string().max(32).optional(),
  actionId: ActionId.optional(),
  actionName: ActionName.optional(),
  actionHeader: z.enum(["present", "absent", "invalid"]),
  traceparent: z.string().max(64).optional(),
  directoryKey: z.string().optional(),
  workspaceId: z.string().max(64).optional(),
  status: z.number().int().optional(),
  durationMs: z.number().nonnegative().optional(),
})
export type RequestContext = z.infer<typeof RequestContext>

/** The compact, durable copy of a request that a lifecycle action keeps of its initiator. */
export const RequestRef = RequestContext.pick({
  requestId: true,
  route: true,
  method: true,
  clientKind: true,
  actionId: true,
  actionName: true,
  actionHeader: true,
})
export type RequestRef = z.infer<typeof RequestRef>

export const Provenance = z.object({ complete: z.boolean(), missing: z.array(z.string()) })
export type Provenance = z.infer<typeof Provenance>

export const MismatchReason = z.enum([
  "worktree_mismatch",
  "project_id_mismatch",
  "project_row_missing",
  "config_digest_mismatch",
  "unknown_context_mismatch",
])
export type MismatchReason = z.infer<typeof MismatchReason>

/** A process signal, or why `opencode desktop` stopped its server (its window was closed, or its browser died). */
export const ShutdownSignal = z.enum([
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "uncaught_exception",
  "api",
  "desktop_window_closed",
  "desktop_window_lost",
])
export type ShutdownSignal = z.infer<typeof ShutdownSignal>

const digest = z.string().regex(/^[a-f0-9]{8,64}$/)

export const ApiRouteOrigin = z.object({
  kind: z.literal("api_route"),
  request: RequestRef.optional(),
  provenance: Provenance,
})
export const ServerHandlerOrigin = z.object({
  kind: z.literal("server_handler"),
  handler: z
    .string()
    .regex(/^[a-z0-9_.]{1,64}$/)
    .optional(),
  provenance: Provenance,
})
export const ConfigInvalidationOrigin = z.object({
  kind: z.literal("config_invalidation"),
  scope: z.enum(["project", "global"]).optional(),
  /** Salted digest of the config file's path. */
  fileKey: digest.optional(),
  change: z.enum(["created", "modified", "deleted"]).optional(),
  /** Present when our own route wrote exactly this change. */
  request: RequestRef.optional(),
  /**
   * Set by the route that wrote the change: the writing request is then required, so a route
   * that loses its request shows a gap instead of reading as an external edit.
   */
  writtenByRoute: z.boolean().optional(),
  provenance: Provenance,
})
export const ContextMismatchOrigin = z.object({
  kind: z.literal("context_mismatch"),
  reason: MismatchReason.optional(),
  before: digest.optional(),
  after: digest.optional(),
  /** The request that happened to trigger `load`: the occasion, not the initiator. */
  detectedDuring: RequestRef.optional(),
  provenance: Provenance,
})
export const ShutdownOrigin = z.object({
  kind: z.literal("shutdown"),
  signal: ShutdownSignal.optional(),
  provenance: Provenance,
})
export const ForwardedRemoteOrigin = z.object({
  kind: z.literal("forwarded_remote"),
  workspaceId: z.string().max(64).optional(),
  provenance: Provenance,
})
export const UnknownOrigin = z.object({
  kind: z.literal("unknown"),
  closeSite: z.string().max(MAX_CLOSE_SITE).optional(),
  provenance: Provenance,
})

export const Origin = z.discriminatedUnion("kind", [
  ApiRouteOrigin,
  ServerHandlerOrigin,
  ConfigInvalidationOrigin,
  ContextMismatchOrigin,
  ShutdownOrigin,
  ForwardedRemoteOrigin,
  UnknownOrigin,
])
export type Origin = z.infer<typeof Origin>
export type OriginKind = Origin["kind"]
/** An origin before its provenance is computed: callers build these, `withProvenance` completes them. */
export type OriginInput = { [K in OriginKind]: Omit<Extract<Origin, { kind: K }>, "provenance"> }[OriginKind]

export const LifecycleOperation = z.enum(["reload", "dispose", "dispose_directory", "dispose_all", "load_reload"])
export type LifecycleOperation = z.infer<typeof LifecycleOperation>

export const InstanceRef = z.object({ instanceId: InstanceId, generation: z.number().int().positive() })
export type InstanceRef = z.infer<typeof InstanceRef>

/** A step of a close that threw. The close still settled, released and finished; this names what failed (code and class only). */
export const CloseFailure = z.object({
  step: z.enum(["abort", "settle", "finalize_unsettled", "release", "reopen", "finish"]),
  code: z.string().max(64),
  class: z.string().max(64),
})
export type CloseFailure = z.infer<typeof CloseFailure>

/** Hop 3: one lifecycle operation. Journalled before any run it closes is aborted. */
export const LifecycleAction = z.object({
  lifecycleId: LifecycleId,
  seq: z.number().int().nonnegative(),
  operation: LifecycleOperation,
  rootOperation: LifecycleOperation,
  parentId: LifecycleId.optional(),
  rootId: LifecycleId,
  origin: Origin,
  directoryKeys: z.array(z.string()).max(MAX_ACTION_KEYS),
  directoryCount: z.number().int().nonnegative(),
  instances: z.array(InstanceRef).max(MAX_ACTION_KEYS).default([]),
  runIds: z.array(RunId).max(MAX_ACTION_RUN_IDS).default([]),
  startedAt: z.number().int().nonnegative(),
  finishedAt: z.number().int().nonnegative().optional(),
  /** Steps of the close that threw (absent when none did). */
  failed: z.array(CloseFailure).max(MAX_ACTION_FAILURES).optional(),
})
export type LifecycleAction = z.infer<typeof LifecycleAction>

export const RunPhase = z.enum(["starting", "provider_waiting", "provider_streaming", "tool_running", "finishing"])
export type RunPhase = z.infer<typeof RunPhase>

export const ProviderProgress = z.object({
  firstOutputAt: z.number().int().nonnegative().optional(),
  lastOutputAt: z.number().int().nonnegative().optional(),
  chunks: z.number().int().nonnegative(),
  progress: z.boolean(),
})
export type ProviderProgress = z.infer<typeof ProviderProgress>

export const WatchdogState = z.object({
  fired: z.boolean(),
  timeoutMs: z.number().int().positive().optional(),
  firedAt: z.number().int().nonnegative().optional(),
})
export type WatchdogState = z.infer<typeof WatchdogState>

export const InterruptKind = z.enum(["lifecycle", "user_cancel", "watchdog", "remote"])

/** Hop 4: why a run's signal was aborted. Set on `AbortSignal.reason` before any finalizer runs. */
export const InterruptMeta = z.object({
  kind: InterruptKind,
  seq: z.number().int().nonnegative(),
  at: z.number().int().nonnegative(),
  runId: RunId,
  sessionId: SessionId,
  lifecycle: LifecycleAction.pick({
    lifecycleId: true,
    operation: true,
    rootOperation: true,
    rootId: true,
    parentId: true,
    origin: true,
  }).optional(),
  /** The request of a user cancel. */
  request: RequestRef.optional(),
  workspaceId: z.string().max(64).optional(),
  /**
   * A forwarded run this server stopped following for its own reason (its shutdown): that local
   * cause. The remote's run was not stopped by it and its outcome is not known here.
   */
  localStop: ShutdownOrigin.optional(),
  phase: RunPhase,
  provider: ProviderProgress,
  watchdog: WatchdogState,
  toolExecutionStarted: z.boolean(),
})
export type InterruptMeta = z.infer<typeof InterruptMeta>

/** A later or racing abort request on the same run (same instance generation only). */
export const AlsoRequested = z.object({
  seq: z.number().int().nonnegative(),
  at: z.number().int().nonnegative(),
  kind: InterruptKind,
  lifecycleId: LifecycleId.optional(),
  operation: LifecycleOperation.optional(),
  originKind: z.string().max(32).optional(),
  /** The request of a user cancel. */
  requestId: RequestId.optional(),
  /** `late`: the run had already finished when this request arrived. */
  late: z.boolean().default(false),
})
export type AlsoRequested = z.infer<typeof AlsoRequested>

export const Classification = z.enum([
  "completed",
  "user_cancelled",
  "local_instance_reload",
  "local_instance_dispose",
  "local_instance_dispose_directory",
  "local_instance_dispose_all",
  "provider_error",
  "tool_error",
  "watchdog_timeout",
  "remote_interrupted",
  "process_exit_without_finalizer",
  "unknown_interrupt",
])
export type Classification = z.infer<typeof Classification>

export const SideEffectKind = z.enum(["read", "write", "exec", "network"])
export type SideEffectKind = z.infer<typeof SideEffectKind>

export const ToolFact = z.object({
  callId: z.string().max(MAX_TOOL_FIELD),
  name: z.string().max(MAX_TOOL_FIELD),
  kind: SideEffectKind,
  startedAt: z.number().int().nonnegative(),
  completedAt: z.number().int().nonnegative().optional(),
  status: z.enum(["running", "completed", "error", "interrupted"]),
})
export type ToolFact = z.infer<typeof ToolFact>

export const RetryVerdict = z.object({
  safe: z.union([z.boolean(), z.literal("unknown")]),
  basis: z.array(z.string().max(64)).max(8),
})
export type RetryVerdict = z.infer<typeof RetryVerdict>

/** A kept error: code, class, status, and a short scrubbed excerpt. Never a raw message. */
export const ErrorFact = z.object({
  code: z.string().max(64),
  class: z.string().max(64),
  status: z.number().int().optional(),
  excerpt: z.string().max(200).optional(),
})
export type ErrorFact = z.infer<typeof ErrorFact>

/** Hop 5: one run's outcome and the facts retry safety is judged from. */
export const RunSummary = z.object({
  runId: RunId,
  sessionId: SessionId,
  seq: z.number().int().nonnegative(),
  instance: InstanceRef.optional(),
  directoryKey: z.string().optional(),
  model: z.string().max(MAX_MODEL_REF).optional(),
  startedAt: z.number().int().nonnegative(),
  finishedAt: z.number().int().nonnegative(),
  classification: Classification,
  interrupt: InterruptMeta.optional(),
  alsoRequestedBy: z.array(AlsoRequested).max(MAX_ALSO_REQUESTED).default([]),
  provider: ProviderProgress,
  watchdog: WatchdogState,
  visibleOutput: z.boolean(),
  tools: z.array(ToolFact).max(MAX_SUMMARY_TOOLS),
  /** Tools the run started beyond the MAX_SUMMARY_TOOLS kept in `tools` (retry is still judged from all of them). */
  toolsDropped: z.number().int().positive().optional(),
  toolFactsRecorded: z.boolean(),
  error: ErrorFact.optional(),
  retry: RetryVerdict,
  /** Where a run was closed without an `InterruptMeta` (a scope closed directly). */
  closeSite: z.string().max(MAX_CLOSE_SITE).optional(),
  missing: z.array(z.string()).default([]),
  /** The stopped run this one was sent again for (the app's Resend): a link, not a cause. */
  resendOf: RunId.optional(),
})
export type RunSummary = z.infer<typeof RunSummary>

/** A run journalled as started whose process ended without finalizing it. */
export const CrashEvidence = z.object({
  runId: RunId,
  sessionId: SessionId,
  bootId: z.string().max(64),
  instance: InstanceRef.optional(),
  startedAt: z.number().int().nonnegative(),
  lastHeartbeatAt: z.number().int().nonnegative().optional(),
  detectedAt: z.number().int().nonnegative(),
  /** Set only when the journal holds an `abort_requested` naming this run. */
  abortRequested: z.object({ lifecycleId: LifecycleId, seq: z.number().int().nonnegative() }).optional(),
  possibleCause: z.object({ lifecycleId: LifecycleId, operation: LifecycleOperation }).optional(),
  visibleOutput: z.boolean().optional(),
  /** When the run's output was last stored: with the heartbeat and tool steps, its last evidence. */
  lastOutputAt: z.number().int().nonnegative().optional(),
  tools: z.array(ToolFact).max(MAX_SUMMARY_TOOLS).optional(),
  resendOf: RunId.optional(),
})
export type CrashEvidence = z.infer<typeof CrashEvidence>

export const Hop = z.enum(["renderer", "request", "lifecycle", "interrupt", "run_summary"])
export type Hop = z.infer<typeof Hop>
export const HopStatus = z.enum(["present", "missing", "not_applicable", "remote_reported", "not_recorded_by_writer"])
export type HopStatus = z.infer<typeof HopStatus>

export const Verdict = z.enum([
  "diagnosed",
  "partially_diagnosed",
  "missing_provenance",
  "crash_evidence",
  "remote_reported",
])
export type Verdict = z.infer<typeof Verdict>

/** Hop 6: the hops joined for one interrupted run. */
export const IncidentChain = z.object({
  runId: RunId,
  sessionId: SessionId,
  classification: Classification,
  verdict: Verdict,
  operation: LifecycleOperation.optional(),
  rootOperation: LifecycleOperation.optional(),
  lifecycleId: LifecycleId.optional(),
  rootLifecycleId: LifecycleId.optional(),
  instanceId: InstanceId.optional(),
  generation: z.number().int().positive().optional(),
  phase: RunPhase.optional(),
  origin: z.object({ kind: z.string().max(32) }).catchall(z.unknown()),
  links: z.array(
    z.object({
      hop: Hop,
      status: HopStatus,
      ref: z.string().max(96).optional(),
      source: z.enum(["server", "client_reported", "remote_reported"]).optional(),
    }),
  ),
  missing: z.array(z.string()),
  alsoRequestedBy: z.array(AlsoRequested),
  retry: RetryVerdict,
  possibleCause: CrashEvidence.shape.possibleCause,
  remote: z.unknown().optional(),
  /** The lifecycle path from the root action to the one that aborted the run (`dispose_all → dispose_directory`). */
  lifecyclePath: z
    .array(z.object({ lifecycleId: LifecycleId, operation: LifecycleOperation }))
    .max(16)
    .optional(),
  /** Detail from the renderer's uploaded action log, when it was uploaded: display facts only. */
  rendererAction: ClientAction.pick({ actionId: true, name: true, page: true }).optional(),
  /** Facts an older writer could not record: labelled, never counted as missing provenance. */
  notRecorded: z.array(z.string()).optional(),
  /** The kept error of a run that ended in a provider or tool error. */
  error: ErrorFact.optional(),
  /** The server's record of the origin's request, when the export still holds it: how it was answered. */
  requestRecord: RequestContext.pick({
    requestId: true,
    seq: true,
    time: true,
    status: true,
    durationMs: true,
  }).optional(),
  /** The stopped run this run was sent again for. */
  resendOf: RunId.optional(),
  /** The latest run sent again for this one, and how it ended when it has (absent: still running or unrecorded). */
  resentAs: z.object({ runId: RunId, classification: Classification.optional() }).optional(),
})
export type IncidentChain = z.infer<typeof IncidentChain>
