/**
 * The renderer's action log (hop 1 of the causal spine): a bounded ring buffer of
 * `ClientAction` records, uploaded in batches to `POST /diagnostics/renderer`.
 *
 * Records are built field by field from an allow-list and parsed through the spine's schema, so
 * nothing else (prompt text, inputs, URLs, titles, paths) can ride along. The log only adds
 * detail to a chain: the renderer hop is already present from the request's own headers, so an
 * evicted or never-uploaded record does not open a gap.
 */
import { ClientAction, RequestId } from "opencode/provenance"
import { pageTemplate } from "../context/routes.ts"

export const ACTION_LOG_CAPACITY = 500
export const FLUSH_BATCH_SIZE = 100
const MAX_REQUEST_IDS = 32

type Outcome = ClientAction["outcome"]

interface Entry {
  record: ClientAction
  /** Changed since its last upload. */
  dirty: boolean
}

interface ActionLogOptions {
  capacity?: number
  /** Uploads one batch; rejects when the server did not take it. */
  send: (actions: ClientAction[]) => Promise<void>
  now?: () => number
}

/**
 * @example
 *   const log = new ActionLog({ send: (actions) => upload({ actions }) })
 *   log.start({ actionId, name: "instance.reload", page: location.pathname })
 */
export class ActionLog {
  private readonly capacity: number
  private readonly entries = new Map<string, Entry>()
  private readonly now: () => number
  private flushing: Promise<void> | undefined
  /** How many records were evicted before they were uploaded. */
  dropped = 0

  constructor(private readonly options: ActionLogOptions) {
    this.capacity = Math.max(1, options.capacity ?? ACTION_LOG_CAPACITY)
    this.now = options.now ?? Date.now
  }

  /**
   * Records the start of an action. Only `actionId`, `name`, the page's route template and the
   * action's trace and root span ids are read from the input; `page` may be a real pathname, it
   * is reduced to its template here.
   */
  start(input: {
    actionId: string
    name: string
    page: string
    traceId?: string
    spanId?: string
  }): ClientAction | undefined {
    const parsed = ClientAction.safeParse({
      actionId: input.actionId,
      name: input.name,
      page: pageTemplate(input.page),
      time: Math.floor(this.now()),
      requestIds: [],
      outcome: "pending",
      ...(input.traceId !== undefined && input.spanId !== undefined
        ? { traceId: input.traceId, spanId: input.spanId }
        : {}),
    })
    if (!parsed.success) return undefined
    this.entries.delete(parsed.data.actionId)
    this.entries.set(parsed.data.actionId, { record: parsed.data, dirty: true })
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.entries().next().value
      if (!oldest) break
      this.entries.delete(oldest[0])
      if (oldest[1].dirty) this.dropped++
    }
    return parsed.data
  }

  /** Adds a response's `x-opencode-request-id`; ids that are not the server's form are ignored. */
  addRequestId(actionId: string, requestId: string | undefined): void {
    const entry = this.entries.get(actionId)
    if (!entry || !requestId || !RequestId.safeParse(requestId).success) return
    if (entry.record.requestIds.includes(requestId) || entry.record.requestIds.length >= MAX_REQUEST_IDS) return
    entry.record = { ...entry.record, requestIds: [...entry.record.requestIds, requestId] }
    entry.dirty = true
  }

  finish(actionId: string, outcome: Exclude<Outcome, "pending">): void {
    const entry = this.entries.get(actionId)
    if (!entry) return
    entry.record = { ...entry.record, outcome }
    entry.dirty = true
  }

  get(actionId: string): ClientAction | undefined {
    return this.entries.get(actionId)?.record
  }

  /** Oldest first. */
  list(): ClientAction[] {
    return [...this.entries.values()].map((entry) => entry.record)
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * Uploads every record changed since its last upload, in batches. A settled action is not
   * uploaded again; a pending one is uploaded again once it settles. A failed batch stays dirty
   * for the next flush. Concurrent calls share one upload.
   */
  flush(): Promise<void> {
    this.flushing ??= this.upload().finally(() => {
      this.flushing = undefined
    })
    return this.flushing
  }

  private async upload(): Promise<void> {
    const pending = [...this.entries.values()].filter((entry) => entry.dirty)
    for (let i = 0; i < pending.length; i += FLUSH_BATCH_SIZE) {
      const batch = pending.slice(i, i + FLUSH_BATCH_SIZE)
      const sent = batch.map((entry) => entry.record)
      await this.options.send(sent)
      // A record changed while its batch was in flight stays dirty.
      batch.forEach((entry, j) => {
        if (entry.record === sent[j]) entry.dirty = false
      })
    }
  }

  /** Flushes every `intervalMs` and when the page is hidden; returns the stop function. */
  autoFlush(intervalMs = 15_000): () => void {
    const quiet = () => void this.flush().catch(() => {})
    const timer = setInterval(quiet, intervalMs)
    const onHide = () => {
      if (document.visibilityState === "hidden") quiet()
    }
    document.addEventListener("visibilitychange", onHide)
    return () => {
      clearInterval(timer)
      document.removeEventListener("visibilitychange", onHide)
    }
  }
}

/** Random ids from `[A-Za-z0-9_-]`, the alphabet the server accepts after `act_`. */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

/** @example newActionId() // "act_V1StGXR8_Z5jdHi6B-myT" */
export function newActionId(length = 21): string {
  const bytes = new Uint8Array(length)
  crypto.getRandomValues(bytes)
  let id = "act_"
  for (const byte of bytes) id += ALPHABET[byte & 63]
  return id
}
