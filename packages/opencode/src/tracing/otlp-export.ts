/**
 * The OpenTelemetry side of trace export: spans from `provenance/trace-mapping.ts` as the SDK's
 * `ReadableSpan`s (past events, so explicit ids, times, links, events and status), handed to the
 * official OTLP/HTTP exporter (protobuf or JSON), which also retries 429/502/503/504 with backoff
 * within its timeout. Loaded with a dynamic import only when export is configured.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type HrTime, type SpanContext } from "@opentelemetry/api"
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as ProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import type { TraceSpan } from "../provenance/trace-mapping.ts"
import type { OtlpConfig } from "./otlp-config.ts"

export interface SpanSender {
  /** Resolves, never rejects: `ok: false` with the exporter's reason when the receiver refused or could not be reached. */
  send(spans: readonly TraceSpan[]): Promise<{ ok: true } | { ok: false; error: string }>
  shutdown(): Promise<void>
}

const SCOPE = { name: "opencode-provenance", version: "0.1.0" }

function hrTime(ms: number): HrTime {
  const whole = Math.floor(ms)
  return [Math.floor(whole / 1000), (whole % 1000) * 1_000_000]
}

const context = (traceId: string, spanId: string): SpanContext => ({
  traceId,
  spanId,
  traceFlags: TraceFlags.SAMPLED,
  isRemote: false,
})

const STATUS = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const

/** @example createSpanSender(setting.config).send(traceSpans({ chains, fallbackTimeMs: Date.now() })) */
export function createSpanSender(config: OtlpConfig): SpanSender {
  const options = { url: config.url, headers: config.headers, timeoutMillis: config.timeoutMs }
  const exporter: SpanExporter =
    config.protocol === "http/json" ? new JsonExporter(options) : new ProtobufExporter(options)
  const resource = resourceFromAttributes(config.resource)
  const readable = (span: TraceSpan): ReadableSpan => {
    const end = Math.max(span.startMs, span.endMs)
    return {
      name: span.name,
      kind: span.kind === "server" ? SpanKind.SERVER : SpanKind.INTERNAL,
      spanContext: () => context(span.traceId, span.spanId),
      ...(span.parentSpanId ? { parentSpanContext: context(span.traceId, span.parentSpanId) } : {}),
      startTime: hrTime(span.startMs),
      endTime: hrTime(end),
      duration: hrTime(end - span.startMs),
      status: span.status.message
        ? { code: STATUS[span.status.code], message: span.status.message }
        : { code: STATUS[span.status.code] },
      attributes: span.attributes,
      links: span.links.map((link) => ({ context: context(link.traceId, link.spanId), attributes: link.attributes })),
      events: span.events.map((event) => ({
        name: event.name,
        time: hrTime(event.timeMs),
        attributes: event.attributes,
      })),
      ended: true,
      resource,
      instrumentationScope: SCOPE,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    }
  }
  return {
    send(spans) {
      return new Promise((resolve) => {
        exporter.export(spans.map(readable), (result) =>
          resolve(
            result.code === 0
              ? { ok: true }
              : { ok: false, error: result.error?.message?.slice(0, 200) ?? "the receiver did not accept the spans" },
          ),
        )
      })
    },
    shutdown: () => exporter.shutdown(),
  }
}
