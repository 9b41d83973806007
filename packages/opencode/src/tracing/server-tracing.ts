/**
 * The server's trace export: when a run ends (completed, interrupted) and when the start's crash
 * scan finds runs a dead process left, the run's records become spans (`provenance/trace-mapping.ts`)
 * and go to the OTLP receiver in the background (`trace-delivery.ts`). The records are read
 * through the session export's diagnostics (its allow-list and caps), so a trace carries exactly what an export may.
 */
import type { Host } from "../host.ts"
import { type TraceSpan, traceSpans } from "../provenance/trace-mapping.ts"
import { runTraceRecords } from "../session/export.ts"
import { otlpSettingFromEnv } from "./otlp-config.ts"
import { createTraceDelivery, type TraceDelivery } from "./trace-delivery.ts"

/** How long after a run ends its trace is built (see `createTraceDelivery`'s `delayMs`). */
const TRACE_DELAY_MS = 1000

/**
 * Undefined when no OTLP endpoint is configured or export is disabled: then nothing subscribes
 * and no OpenTelemetry module is loaded. A malformed setting is said once on stderr.
 *
 * @example const tracing = startServerTracing(host, process.env)
 */
export function startServerTracing(
  host: Host,
  env: Record<string, string | undefined>,
  options: { delayMs?: number } = {},
): TraceDelivery | undefined {
  const setting = otlpSettingFromEnv(env)
  if (!setting.enabled) {
    if (setting.reason === "invalid") console.error(`tracing: ${setting.error}; traces are not exported`)
    return undefined
  }
  const delivery = createTraceDelivery(setting.config, {
    delayMs: options.delayMs ?? TRACE_DELAY_MS,
    onError: (message) => console.error(`tracing: ${message}`),
  })
  const runTrace = (sessionId: string, runId: string) => () => runSpans(host, sessionId, runId)
  host.bus.subscribe((event) => {
    if (event.type !== "run.finished") return
    const { summary } = event.properties
    delivery.enqueue(runTrace(summary.sessionId, summary.runId))
  })
  for (const crash of host.crashes) delivery.enqueue(runTrace(crash.sessionId, crash.runId))
  return delivery
}

/** One run's trace and, when it was stopped, its incident's trace. */
export async function runSpans(host: Host, sessionId: string, runId: string): Promise<readonly TraceSpan[]> {
  // The run's chain as the export derives it and the records it reaches, not the whole export's
  // diagnostics: building those for every finished run cost the session's size each time
  // (seconds and hundreds of MB at 50 000 runs).
  const records = await runTraceRecords(host, sessionId, runId)
  if (!records) return []
  return traceSpans({ ...records, fallbackTimeMs: records.exportedAt })
}
