/**
 * Background delivery of traces: a bounded queue of jobs, each computing its spans when its turn
 * comes (never on a request's path), sent one batch at a time. Beyond the queue's bound a job is
 * dropped and counted; a receiver that is down, slow or refuses only moves the counters that
 * `/health` shows (`tracing: { exported, dropped, failed }`). On exit, `flush` waits a bounded time.
 */
import type { TraceSpan } from "../provenance/trace-mapping.ts"
import type { OtlpConfig } from "./otlp-config.ts"
import type { SpanSender } from "./otlp-export.ts"

/** Jobs waiting at most; one more is dropped (a receiver that is down must not grow the heap). */
const TRACE_QUEUE_LIMIT = 256
/** How long a shutdown waits for queued traces before it lets them go. */
const TRACE_FLUSH_MS = 2000

export interface TracingCounts {
  /** Traces the receiver accepted. */
  exported: number
  /** Traces dropped because the queue was full (or the server was closing). */
  dropped: number
  /** Traces the receiver refused or could not be reached for, after the exporter's retries. */
  failed: number
}

export interface TraceDelivery {
  /** Queues a job; its spans are computed in the background. False when it was dropped. */
  enqueue(job: () => readonly TraceSpan[] | Promise<readonly TraceSpan[]>): boolean
  counts(): TracingCounts
  /** Sends what is queued, waiting at most `timeoutMs`; then stops the exporter. */
  flush(timeoutMs?: number): Promise<void>
}

/**
 * @example
 *   const delivery = createTraceDelivery(setting.config)
 *   delivery.enqueue(() => traceSpans({ chains, runs, fallbackTimeMs: Date.now() }))
 */
export function createTraceDelivery(
  config: OtlpConfig,
  options: {
    limit?: number
    /**
     * How long after an incident its spans are computed: the closing request's answer and the
     * app's upload of the action are usually recorded by then. A flush skips the wait.
     */
    delayMs?: number
    onError?: (message: string) => void
  } = {},
): TraceDelivery {
  const limit = options.limit ?? TRACE_QUEUE_LIMIT
  const counts: TracingCounts = { exported: 0, dropped: 0, failed: 0 }
  const queue: { job: () => readonly TraceSpan[] | Promise<readonly TraceSpan[]>; at: number }[] = []
  const delayMs = options.delayMs ?? 0
  let wake: (() => void) | undefined
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      timer.unref()
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  // The OpenTelemetry modules load on the first job, never at startup: a server that exports nothing pays nothing.
  let sender: Promise<SpanSender> | undefined
  const load = () => (sender ??= import("./otlp-export.ts").then((module) => module.createSpanSender(config)))
  let draining: Promise<void> | undefined
  let closed = false
  let lastError: string | undefined

  const drain = async () => {
    while (queue.length > 0) {
      const wait = queue[0]!.at + delayMs - Date.now()
      if (wait > 0 && !closed) await pause(wait)
      const { job } = queue.shift()!
      let spans: readonly TraceSpan[]
      try {
        spans = await job()
      } catch {
        counts.failed++
        continue
      }
      if (spans.length === 0) continue
      const result = await (await load()).send(spans)
      if (result.ok) counts.exported++
      else {
        counts.failed++
        // Said once per distinct reason: a receiver that is down must not flood the log.
        if (result.error !== lastError) options.onError?.(`trace export failed: ${result.error}`)
        lastError = result.error
      }
    }
  }
  const start = () => {
    draining ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(drain)
      .catch(() => {
        counts.failed += queue.length
        queue.length = 0
      })
      .finally(() => {
        draining = undefined
        if (queue.length > 0 && !closed) start()
      })
  }

  return {
    enqueue(job) {
      if (closed || queue.length >= limit) {
        counts.dropped++
        return false
      }
      queue.push({ job, at: Date.now() })
      start()
      return true
    },
    counts: () => ({ ...counts }),
    async flush(timeoutMs = TRACE_FLUSH_MS) {
      closed = true
      wake?.()
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
        timer.unref()
      })
      await Promise.race([draining ?? Promise.resolve(), deadline])
      clearTimeout(timer)
      counts.dropped += queue.length
      queue.length = 0
      // The exporter's own shutdown waits for requests in flight; bounded by the same deadline.
      if (sender) await Promise.race([sender.then((s) => s.shutdown()).catch(() => {}), deadline])
    },
  }
}
