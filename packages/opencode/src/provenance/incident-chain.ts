/**
 * Incident chains (hop 6 of docs/architecture.md, "The causal spine"): for each interrupted run
 * and each crashed run, the hops joined by id, each marked present / missing / not applicable,
 * with a verdict that is `diagnosed` only when every hop the origin requires is present.
 *
 * Origins of the stops that are not lifecycle closes (docs/architecture.md, "Origins and the
 * completeness function"):
 * - user cancel: `api_route` built from the cancel request (`InterruptMeta.request`);
 * - watchdog: `server_handler` with handler `watchdog`;
 * - provider / tool error: `server_handler` with handler `provider` / `tool`; no interrupt hop;
 * - remote stream close: `forwarded_remote` with the workspace id;
 * - process exit without a finalizer: `unknown` with closeSite `process_exit_without_finalizer`,
 *   unless the journal holds an `abort_requested` for the run.
 */
import { classificationForOperation, rootOperationForClassification } from "./classification.ts"
import {
  computeProvenance,
  type HopPlan,
  hopPlan,
  type HopRequirement,
  originRequest,
  type StopCause,
} from "./completeness.ts"
import { latestResends } from "./resend-links.ts"
import { deriveRetry } from "./retry.ts"
import {
  type Classification,
  type ClientAction,
  type CrashEvidence,
  Hop,
  type HopStatus,
  type IncidentChain,
  type InterruptMeta,
  type LifecycleAction,
  type LifecycleOperation,
  Origin,
  type RequestContext,
  type RetryVerdict,
  type RunSummary,
  type Verdict,
} from "./schemas.ts"
import { unique } from "./unique.ts"

/** The export version that first recorded origins; an older writer could not have recorded them. */
const FIRST_WRITER_VERSION_WITH_ORIGINS = 2

export interface IncidentInput {
  runs: readonly RunSummary[]
  lifecycle: readonly LifecycleAction[]
  requests: readonly RequestContext[]
  renderer: readonly ClientAction[]
  crashes: readonly CrashEvidence[]
  /** The export version that wrote these records; below 2, absent provenance is `not_recorded_by_writer`. */
  writerVersion?: number
}

type IncidentLink = IncidentChain["links"][number]

/** The origin a chain shows when an old writer could not record one. */
const NOT_RECORDED_ORIGIN = { kind: "not_recorded_by_writer" } as const

/** Hop-level gaps keep their own names; every other missing name is a field of the origin. */
export const HOP_MISSING_NAME: Readonly<Record<Hop, string>> = {
  renderer: "renderer_action",
  request: "origin.request",
  lifecycle: "lifecycle_action",
  interrupt: "interrupt_meta",
  run_summary: "run_summary",
}
/** The hop-level names: the missing names above that are not a field of the origin. */
const HOP_LEVEL_NAMES: ReadonlySet<string> = new Set(
  Object.values(HOP_MISSING_NAME).filter((name) => !name.includes(".")),
)
/** In the spine's order (renderer first). */
const HOPS: readonly Hop[] = Hop.options
const MAX_PATH = 16
const ORIGIN_KINDS: ReadonlySet<string> = new Set(Origin.options.map((option) => option.shape.kind.value))

/** The chain field name for a name `computeProvenance` reports. */
function missingFieldName(provenanceName: string): string {
  return HOP_LEVEL_NAMES.has(provenanceName) || provenanceName.includes(".")
    ? provenanceName
    : `origin.${provenanceName}`
}

/** What kind of stop a classification is, which decides the lifecycle and interrupt hops. */
function stopCauseForClassification(classification: Classification): StopCause {
  switch (classification) {
    case "user_cancelled":
      return "user_cancel"
    case "watchdog_timeout":
      return "watchdog"
    case "remote_interrupted":
      return "remote"
    case "provider_error":
    case "tool_error":
      return "error"
    case "process_exit_without_finalizer":
      return "crash"
    default:
      return "lifecycle"
  }
}

/**
 * The verdict from an origin and its links: the one rule the derivation and the reader's
 * re-check share.
 */
function verdictFor(args: {
  originKind: string
  provenanceComplete: boolean
  links: readonly IncidentLink[]
  crash: boolean
}): Verdict {
  if (args.crash) return "crash_evidence"
  if (args.originKind === "unknown") return "missing_provenance"
  if (args.originKind === "forwarded_remote") return "remote_reported"
  if (!ORIGIN_KINDS.has(args.originKind)) return "partially_diagnosed"
  const gap = args.links.some((link) => link.status === "missing" || link.status === "not_recorded_by_writer")
  return args.provenanceComplete && !gap ? "diagnosed" : "partially_diagnosed"
}

/**
 * Re-checks a chain that was not derived here (an imported file's, a remote's): its verdict is
 * recomputed from its own origin and links, and every hop the origin requires must have a
 * present link, so a hand-edited `diagnosed` cannot stand.
 */
export function recheckChain(chain: IncidentChain): IncidentChain {
  const parsed = Origin.safeParse(chain.origin)
  const knownKind = parsed.success || chain.origin.kind === NOT_RECORDED_ORIGIN.kind
  const originKind = knownKind ? chain.origin.kind : "unknown"
  const provenance = parsed.success ? computeProvenance(parsed.data) : { complete: false, missing: [] }
  const crash = chain.classification === "process_exit_without_finalizer"
  let links = chain.links
  if (parsed.success) {
    const plan = hopPlan(parsed.data, stopCauseForClassification(chain.classification))
    const byHop = new Map(chain.links.map((link) => [link.hop, link]))
    links = HOPS.map(
      (hop) => byHop.get(hop) ?? { hop, status: plan[hop] === "not_applicable" ? "not_applicable" : "missing" },
    )
    links = links.map((link) =>
      plan[link.hop] === "required" && link.status === "not_applicable"
        ? { ...link, status: "missing" as const }
        : link,
    )
  }
  const originMissing = originKind === "unknown" ? provenance.missing : provenance.missing.map(missingFieldName)
  const missing = unique([
    ...chain.missing,
    // An origin not recognised is a missing one, named as derivation names it.
    ...(knownKind ? [] : ["origin"]),
    ...originMissing,
    ...gapNames(links, chain.notRecorded !== undefined && chain.notRecorded.length > 0),
  ])
  return {
    ...chain,
    links,
    missing,
    verdict: verdictFor({ originKind, provenanceComplete: provenance.complete, links, crash }),
  }
}

function gapNames(links: readonly IncidentLink[], legacy: boolean): string[] {
  if (legacy) return []
  return links
    .filter((link) => link.status === "missing" && link.hop !== "renderer" && link.hop !== "request")
    .map((link) => HOP_MISSING_NAME[link.hop])
}

/** The records of one export, indexed once so every join is a map lookup. */
class RecordIndex {
  readonly lifecycle = new Map<string, LifecycleAction>()
  readonly requests = new Map<string, RequestContext>()
  readonly renderer = new Map<string, ClientAction>()
  readonly closedBy = new Map<string, LifecycleAction[]>()
  /** Per recorded action: what every run it closed shares (path, initiator), built once. */
  readonly attributions = new Map<string, Pick<Attribution, "origin" | "lifecycle">>()
  private readonly paths = new Map<string, LifecycleAction[]>()

  constructor(input: Pick<IncidentInput, "lifecycle" | "requests" | "renderer">) {
    for (const action of input.lifecycle) {
      if (this.lifecycle.has(action.lifecycleId)) continue
      this.lifecycle.set(action.lifecycleId, action)
      for (const runId of action.runIds) {
        const list = this.closedBy.get(runId)
        if (list) list.push(action)
        else this.closedBy.set(runId, [action])
      }
    }
    for (const request of input.requests)
      if (!this.requests.has(request.requestId)) this.requests.set(request.requestId, request)
    for (const action of input.renderer)
      if (!this.renderer.has(action.actionId)) this.renderer.set(action.actionId, action)
  }

  /** The recorded actions from the farthest known ancestor down to this one (empty when it is not recorded). */
  pathTo(lifecycleId: string): LifecycleAction[] {
    const cached = this.paths.get(lifecycleId)
    if (cached) return cached
    const path: LifecycleAction[] = []
    const seen = new Set<string>()
    let current = this.lifecycle.get(lifecycleId)
    // Bounded and cycle-safe: imported files are hostile input.
    while (current && !seen.has(current.lifecycleId) && path.length < MAX_PATH) {
      seen.add(current.lifecycleId)
      path.push(current)
      current = current.parentId ? this.lifecycle.get(current.parentId) : undefined
    }
    path.reverse()
    this.paths.set(lifecycleId, path)
    return path
  }
}

type EmbeddedLifecycle = NonNullable<InterruptMeta["lifecycle"]>

/** Who stopped a run, as far as the records say. */
interface Attribution {
  origin: Origin | typeof NOT_RECORDED_ORIGIN
  cause: StopCause
  lifecycle?: {
    lifecycleId: string
    recorded: boolean
    operation?: LifecycleOperation
    rootOperation?: LifecycleOperation
    rootLifecycleId?: string
    path: { lifecycleId: string; operation: LifecycleOperation }[]
  }
  interrupt: { present: boolean; ref?: string }
}

function lifecycleAttribution(
  index: RecordIndex,
  lifecycleId: string,
  embedded: EmbeddedLifecycle | undefined,
): Attribution {
  // With the action recorded, the embedded copy is only a fallback: the result is shared per action.
  const cached = index.attributions.get(lifecycleId)
  if (cached)
    return {
      origin: cached.origin,
      lifecycle: cached.lifecycle,
      cause: "lifecycle",
      interrupt: { present: embedded !== undefined },
    }
  const attribution = attributeLifecycle(index, lifecycleId, embedded)
  // Shared only when the records alone decide it (the action and its root recorded): otherwise
  // each run's embedded copy fills in, whichever run is attributed first.
  if (index.pathTo(lifecycleId)[0]?.parentId === undefined && index.lifecycle.has(lifecycleId))
    index.attributions.set(lifecycleId, { origin: attribution.origin, lifecycle: attribution.lifecycle })
  return attribution
}

function attributeLifecycle(
  index: RecordIndex,
  lifecycleId: string,
  embedded: EmbeddedLifecycle | undefined,
): Attribution {
  const path = index.pathTo(lifecycleId)
  const record = path.at(-1)
  // The root action's origin is the initiator: a dispose_directory child only carries it out.
  const root = path[0] && path[0].parentId === undefined ? path[0] : undefined
  const origin = root?.origin ?? record?.origin ?? embedded?.origin
  const rootOperation = root?.operation ?? embedded?.rootOperation ?? record?.rootOperation
  const lifecycle = {
    lifecycleId,
    recorded: record !== undefined || embedded !== undefined,
    operation: record?.operation ?? embedded?.operation,
    rootOperation,
    rootLifecycleId: record?.rootId ?? embedded?.rootId,
    path: path.map((action) => ({ lifecycleId: action.lifecycleId, operation: action.operation })),
  }
  return {
    origin: origin ? reprove(origin) : unknownOrigin(["lifecycle_action"]),
    cause: "lifecycle",
    lifecycle,
    interrupt: { present: embedded !== undefined },
  }
}

/** The stored provenance is a claim; the chain recomputes it with the one completeness function. */
function reprove(origin: Origin): Origin {
  return { ...origin, provenance: computeProvenance(origin) } as Origin
}

function unknownOrigin(missing: readonly string[], closeSite?: string): Origin {
  const base = closeSite ? { kind: "unknown" as const, closeSite } : { kind: "unknown" as const }
  return { ...base, provenance: computeProvenance(base, { unknownMissing: missing }) }
}

function handlerOrigin(handler: string): Origin {
  const base = { kind: "server_handler" as const, handler }
  return { ...base, provenance: computeProvenance(base) }
}

function attributeSummary(index: RecordIndex, run: RunSummary, legacy: boolean): Attribution {
  const meta = run.interrupt
  if (meta) {
    switch (meta.kind) {
      case "lifecycle":
        if (meta.lifecycle) return lifecycleAttribution(index, meta.lifecycle.lifecycleId, meta.lifecycle)
        break
      case "user_cancel": {
        const base = meta.request
          ? { kind: "api_route" as const, request: meta.request }
          : { kind: "api_route" as const }
        return {
          origin: { ...base, provenance: computeProvenance(base) },
          cause: "user_cancel",
          interrupt: { present: true },
        }
      }
      case "watchdog":
        return { origin: handlerOrigin("watchdog"), cause: "watchdog", interrupt: { present: true } }
      case "remote": {
        // This server stopped following the run (its shutdown): the local cause is the origin, the remote's part stays remote.
        if (meta.localStop) return { origin: reprove(meta.localStop), cause: "remote", interrupt: { present: true } }
        const base = meta.workspaceId
          ? { kind: "forwarded_remote" as const, workspaceId: meta.workspaceId }
          : { kind: "forwarded_remote" as const }
        return {
          origin: { ...base, provenance: computeProvenance(base) },
          cause: "remote",
          interrupt: { present: true },
        }
      }
    }
  }
  // No usable InterruptMeta: the classification alone says what kind of stop it was.
  const interrupt = { present: meta !== undefined }
  switch (run.classification) {
    case "provider_error":
      return { origin: handlerOrigin("provider"), cause: "error", interrupt }
    case "tool_error":
      return { origin: handlerOrigin("tool"), cause: "error", interrupt }
    case "watchdog_timeout":
      return { origin: handlerOrigin("watchdog"), cause: "watchdog", interrupt }
    case "user_cancelled":
      return {
        origin: { kind: "api_route", provenance: computeProvenance({ kind: "api_route" }) },
        cause: "user_cancel",
        interrupt,
      }
    case "remote_interrupted":
      return {
        origin: { kind: "forwarded_remote", provenance: computeProvenance({ kind: "forwarded_remote" }) },
        cause: "remote",
        interrupt,
      }
    case "unknown_interrupt":
      return { origin: unknownOrigin(run.missing, run.closeSite), cause: "lifecycle", interrupt }
    default:
      // A lifecycle classification with no lifecycle action: an old writer could not record one;
      // a current writer should have, and did not.
      return {
        origin: legacy ? NOT_RECORDED_ORIGIN : unknownOrigin(["lifecycle_action"], run.closeSite),
        cause: "lifecycle",
        interrupt,
      }
  }
}

interface ChainParts {
  runId: string
  sessionId: string
  classification: Classification
  attribution: Attribution
  runSummaryPresent: boolean
  extraMissing: readonly string[]
  retry: RetryVerdict
  crash: boolean
  legacy: boolean
  run?: RunSummary
  instance?: { instanceId: string; generation: number } | undefined
  possibleCause?: IncidentChain["possibleCause"]
}

function buildChain(index: RecordIndex, parts: ChainParts): IncidentChain {
  const { attribution, legacy } = parts
  const origin = attribution.origin
  const realOrigin = origin.kind === NOT_RECORDED_ORIGIN.kind ? undefined : (origin as Origin)
  const plan: HopPlan = realOrigin
    ? hopPlan(realOrigin, attribution.cause)
    : {
        renderer: "required",
        request: "required",
        lifecycle: "required",
        interrupt: "required",
        run_summary: "required",
      }
  const request = realOrigin ? originRequest(realOrigin) : undefined
  const absent: HopStatus = legacy ? "not_recorded_by_writer" : "missing"

  const lifecycleRef = attribution.lifecycle?.recorded ? attribution.lifecycle.lifecycleId : undefined
  const interruptRef = attribution.interrupt.ref
  const presentLink = (hop: Hop): IncidentLink | undefined => {
    switch (hop) {
      case "renderer":
        return request?.actionId
          ? { hop, status: "present", ref: request.actionId, source: "client_reported" }
          : undefined
      case "request":
        return request ? { hop, status: "present", ref: request.requestId, source: "server" } : undefined
      case "lifecycle":
        return lifecycleRef ? { hop, status: "present", ref: lifecycleRef, source: "server" } : undefined
      case "interrupt":
        if (!attribution.interrupt.present) return undefined
        return interruptRef
          ? { hop, status: "present", ref: interruptRef, source: "server" }
          : { hop, status: "present", source: "server" }
      case "run_summary":
        return parts.runSummaryPresent ? { hop, status: "present", ref: parts.runId, source: "server" } : undefined
    }
  }
  const links: IncidentLink[] = []
  const provenance = realOrigin ? realOrigin.provenance : { complete: false, missing: [] }
  // An unknown origin's names are its caller's, already chain-level; the others are origin fields.
  const gaps: string[] = origin.kind === "unknown" ? [...provenance.missing] : provenance.missing.map(missingFieldName)
  const absentHops: string[] = []
  for (const hop of HOPS) {
    const link = linkFor(hop, plan[hop], presentLink, absent)
    links.push(link)
    if (link.status !== absent) continue
    absentHops.push(HOP_MISSING_NAME[hop])
    // Renderer and request gaps are already named by the origin's provenance.
    if (plan[hop] === "required" && hop !== "renderer" && hop !== "request") addOnce(gaps, HOP_MISSING_NAME[hop])
  }
  for (const name of parts.extraMissing) addOnce(gaps, name)
  // An old writer's gaps are facts it could not record, not missing provenance. An unknown origin
  // is the writer's own admission that nothing attributed the stop, so that stays missing.
  const missing = !legacy || origin.kind === "unknown" ? gaps : []
  let notRecorded: string[] | undefined
  if (legacy) {
    notRecorded = []
    for (const name of [...(realOrigin ? [] : ["origin"]), ...gaps, ...absentHops])
      if (!missing.includes(name)) addOnce(notRecorded, name)
  }

  const lifecycle = attribution.lifecycle
  // Without the action, the classification still names the root operation; the direct operation
  // is then known too, unless the root fans out into children (dispose_all).
  const rootOperation = lifecycle?.rootOperation ?? rootOperationForClassification(parts.classification)
  const operation = lifecycle?.operation ?? (rootOperation !== "dispose_all" ? rootOperation : undefined)
  const rendererAction = request?.actionId ? index.renderer.get(request.actionId) : undefined
  const requestRecord = request ? index.requests.get(request.requestId) : undefined

  const chain: IncidentChain = {
    runId: parts.runId,
    sessionId: parts.sessionId,
    classification: parts.classification,
    verdict: verdictFor({
      originKind: origin.kind,
      provenanceComplete: provenance.complete,
      links,
      crash: parts.crash,
    }),
    origin,
    links,
    missing,
    alsoRequestedBy: parts.run?.alsoRequestedBy ?? [],
    retry: parts.retry,
  }
  if (operation) chain.operation = operation
  if (rootOperation) chain.rootOperation = rootOperation
  if (lifecycle) chain.lifecycleId = lifecycle.lifecycleId as IncidentChain["lifecycleId"]
  if (lifecycle?.rootLifecycleId) chain.rootLifecycleId = lifecycle.rootLifecycleId as IncidentChain["rootLifecycleId"]
  if (lifecycle && lifecycle.path.length > 0) chain.lifecyclePath = lifecycle.path as IncidentChain["lifecyclePath"]
  if (parts.instance) {
    chain.instanceId = parts.instance.instanceId as IncidentChain["instanceId"]
    chain.generation = parts.instance.generation
  }
  if (parts.run?.interrupt?.phase) chain.phase = parts.run.interrupt.phase
  if (parts.possibleCause) chain.possibleCause = parts.possibleCause
  if (rendererAction)
    chain.rendererAction = { actionId: rendererAction.actionId, name: rendererAction.name, page: rendererAction.page }
  if (requestRecord) {
    const { requestId, seq, time, status, durationMs } = requestRecord
    chain.requestRecord = {
      requestId,
      seq,
      time,
      ...(status !== undefined ? { status } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
    }
  }
  if (notRecorded && notRecorded.length > 0) chain.notRecorded = notRecorded
  if (parts.run?.error) chain.error = parts.run.error
  return chain
}

function linkFor(
  hop: Hop,
  requirement: HopRequirement,
  presentLink: (hop: Hop) => IncidentLink | undefined,
  absent: HopStatus,
): IncidentLink {
  if (requirement === "not_applicable") return { hop, status: "not_applicable" }
  if (requirement === "remote_reported") return { hop, status: "remote_reported", source: "remote_reported" }
  return presentLink(hop) ?? { hop, status: absent }
}

/** An unattributed run's possible cause: the one recorded action that lists it, on its own generation. */
function possibleCauseFor(
  index: RecordIndex,
  runId: string,
  instance: RunSummary["instance"],
): IncidentChain["possibleCause"] {
  const candidates = (index.closedBy.get(runId) ?? []).filter(
    (action) =>
      !instance ||
      action.instances.length === 0 ||
      action.instances.some((ref) => ref.instanceId === instance.instanceId && ref.generation === instance.generation),
  )
  const only = candidates.length === 1 ? candidates[0] : undefined
  return only ? { lifecycleId: only.lifecycleId, operation: only.operation } : undefined
}

function summaryChain(index: RecordIndex, run: RunSummary, legacy: boolean): IncidentChain {
  if (run.classification === "process_exit_without_finalizer") {
    return buildChain(index, {
      runId: run.runId,
      sessionId: run.sessionId,
      classification: run.classification,
      attribution: {
        origin: unknownOrigin(
          run.missing.length > 0 ? run.missing : ["interrupt_meta"],
          run.closeSite ?? "process_exit_without_finalizer",
        ),
        cause: "crash",
        interrupt: { present: false },
      },
      runSummaryPresent: true,
      extraMissing: run.missing,
      retry: run.retry,
      crash: true,
      legacy,
      run,
      instance: run.instance,
    })
  }
  const attribution = attributeSummary(index, run, legacy)
  const unattributed = attribution.origin.kind === "unknown" && !attribution.lifecycle
  const possibleCause = unattributed && !legacy ? possibleCauseFor(index, run.runId, run.instance) : undefined
  return buildChain(index, {
    runId: run.runId,
    sessionId: run.sessionId,
    classification: run.classification,
    attribution,
    // A placeholder summary written for a run that never settled names itself as missing.
    runSummaryPresent: !run.missing.includes("run_summary"),
    extraMissing: run.missing,
    retry: run.retry,
    crash: false,
    legacy,
    run,
    instance: run.instance,
    possibleCause,
  })
}

/**
 * The chain a run's summary derives with no other record beside it (the lifecycle action it names
 * taken as recorded, from the summary's own copy): what the app says of a stopped run before the
 * session's chains arrive, so that it never says more, or less, than the chain will.
 */
export function summaryOnlyChain(run: RunSummary): IncidentChain {
  return summaryChain(new RecordIndex({ lifecycle: [], requests: [], renderer: [] }), run, false)
}

function crashChain(index: RecordIndex, crash: CrashEvidence, legacy: boolean): IncidentChain {
  const retry = deriveRetry({
    tools: crash.tools,
    toolFactsRecorded: crash.tools !== undefined,
    visibleOutput: crash.visibleOutput,
  })
  const common = {
    runId: crash.runId,
    sessionId: crash.sessionId,
    runSummaryPresent: false,
    retry,
    legacy,
    instance: crash.instance,
    possibleCause: crash.possibleCause,
  }
  if (crash.abortRequested) {
    // The close was journalled before the abort: the run reads as that close, its summary missing.
    const { lifecycleId, seq } = crash.abortRequested
    const attribution = lifecycleAttribution(index, lifecycleId, undefined)
    attribution.interrupt = { present: true, ref: `abort_requested:${seq}` }
    const rootOperation = attribution.lifecycle?.rootOperation
    return buildChain(index, {
      ...common,
      classification: rootOperation ? classificationForOperation(rootOperation) : "unknown_interrupt",
      attribution,
      extraMissing: ["run_summary"],
      crash: false,
    })
  }
  return buildChain(index, {
    ...common,
    classification: "process_exit_without_finalizer",
    attribution: {
      origin: unknownOrigin(["run_summary"], "process_exit_without_finalizer"),
      cause: "crash",
      interrupt: { present: false },
    },
    extraMissing: ["run_summary"],
    crash: true,
  })
}

/**
 * One chain per interrupted run (every classification but `completed`) and per crashed run,
 * in input order (runs, then crashes). Linear in the number of records: every join is a map
 * lookup, lifecycle paths are memoised.
 *
 * A run with both a finished summary and crash evidence is read from its summary (a finalizer
 * ran); a `process_exit_without_finalizer` summary defers to the crash evidence, which has more.
 */
export function deriveIncidentChains(input: IncidentInput): IncidentChain[] {
  const derivation = new IncidentDerivation(input.crashes, resendLinks(input.runs, input.crashes), input.writerVersion)
  return [...derivation.runChains(input), ...derivation.crashChains(input)]
}

/**
 * `deriveIncidentChains` a page of runs at a time, for a session too large to hold at once: each
 * page's chains come from that page's runs and the records they reach (the lifecycle actions they
 * name with their ancestors, every recorded action listing one of them, the requests and renderer
 * actions those name), then the crash chains from the crashes' own. Chains equal the whole
 * derivation's: only the resend links and the crash list span pages, and both are given whole.
 */
export class IncidentDerivation {
  private readonly crashes = new Map<string, CrashEvidence>()
  /** The runs a summary finalised: every one, or with `distinctPages` only those with crash evidence (all `crashChains` asks about). */
  private readonly finalized = new Set<string>()
  private readonly legacy: boolean

  /**
   * `distinctPages`: no run is on two pages (the pages come from the run table, keyed by run id),
   * so a run's first summary is known within its page, and the runs finalised need not all be held.
   */
  constructor(
    crashes: readonly CrashEvidence[],
    private readonly resends: ResendLinks,
    writerVersion?: number,
    private readonly distinctPages = false,
  ) {
    for (const crash of crashes) if (!this.crashes.has(crash.runId)) this.crashes.set(crash.runId, crash)
    this.legacy = writerVersion !== undefined && writerVersion < FIRST_WRITER_VERSION_WITH_ORIGINS
  }

  /** The chains of `page.runs`, in order; call once per page, pages in order. */
  runChains(page: Omit<IncidentInput, "crashes" | "writerVersion">): IncidentChain[] {
    const index = new RecordIndex(page)
    const chains: IncidentChain[] = []
    const finalized = this.distinctPages ? new Set<string>() : this.finalized
    for (const run of page.runs) {
      if (finalized.has(run.runId)) continue
      const crashed = run.classification === "process_exit_without_finalizer" && this.crashes.has(run.runId)
      if (crashed) continue
      finalized.add(run.runId)
      if (this.distinctPages && this.crashes.has(run.runId)) this.finalized.add(run.runId)
      if (run.classification !== "completed") chains.push(this.resends.link(summaryChain(index, run, this.legacy)))
    }
    return chains
  }

  /** The chains of the crashed runs no summary finalised; after every page of runs. */
  crashChains(records: Omit<IncidentInput, "runs" | "crashes" | "writerVersion">): IncidentChain[] {
    const index = new RecordIndex(records)
    const chains: IncidentChain[] = []
    for (const crash of this.crashes.values())
      if (!this.finalized.has(crash.runId)) chains.push(this.resends.link(crashChain(index, crash, this.legacy)))
    return chains
  }
}

/** What resend links need of a run: its id, start, the run it resent and, from a summary, how it ended. */
export type ResendRecord = {
  runId: string
  startedAt: number
  resendOf?: string | undefined
  classification?: Classification
}

/**
 * Each chain's resend links: the run it was sent again for (`resendOf`) and the latest run sent
 * again for it (`resentAs`), with how that run ended when a summary says so. Links, never causes.
 */
export interface ResendLinks {
  link(chain: IncidentChain): IncidentChain
}

/** The resend links among `runs` (summaries) and `crashes`: only these few fields of each, so a whole session's fit. */
export function resendLinks(runs: Iterable<ResendRecord>, crashes: Iterable<ResendRecord>): ResendLinks {
  const ended = new Map<string, Classification>()
  const linked: ResendRecord[] = []
  const resendOf = new Map<string, string>()
  const note = (run: ResendRecord) => {
    if (!run.resendOf) return
    linked.push(run)
    if (run.resendOf !== run.runId) resendOf.set(run.runId, run.resendOf)
  }
  for (const run of runs) {
    ended.set(run.runId, run.classification!)
    note(run)
  }
  for (const crash of crashes) note(crash)
  const resends = latestResends(linked)
  return {
    link(chain) {
      const of = resendOf.get(chain.runId)
      const as = resends.get(chain.runId)
      if (!of && !as) return chain
      const classification = as ? ended.get(as.runId) : undefined
      return {
        ...chain,
        ...(of ? { resendOf: of } : {}),
        ...(as ? { resentAs: { runId: as.runId, ...(classification ? { classification } : {}) } } : {}),
      }
    },
  }
}

/** Lists here hold a handful of names: a linear check beats building a Set per chain. */
function addOnce(list: string[], name: string): void {
  if (!list.includes(name)) list.push(name)
}
