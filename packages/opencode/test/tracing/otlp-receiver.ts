/**
 * A loopback OTLP/HTTP receiver for the tracing tests (no Docker, no collector): records each
 * request, answers with the statuses a test queues (then 200), or never answers (`hang`). Bodies
 * are decoded independently of the exporter: JSON by hand, protobuf with protobufjs and the OTLP
 * trace proto's messages and field numbers declared below.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import protobuf from "protobufjs"

export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingMessage["headers"]
  body: Buffer
}

export interface Receiver {
  /** `http://127.0.0.1:PORT` (no path). */
  url: string
  requests: ReceivedRequest[]
  /** Statuses the next requests get, in order; after them, 200. */
  answer(...statuses: number[]): void
  /** Never answer (a receiver that accepted the connection and hangs). */
  hang(): void
  close(): Promise<void>
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = []
  const queued: number[] = []
  let hanging = false
  const open = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
      })
      if (hanging) {
        open.add(res)
        return
      }
      const status = queued.shift() ?? 200
      res.writeHead(status, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer: (...statuses) => queued.push(...statuses),
    hang: () => (hanging = true),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A port nothing listens on: a receiver that is down. */
export async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

/** One span as both encodings decode to: hex ids, string nanos, plain attribute values. */
export interface DecodedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: Record<string, unknown>
  events: { name: string; timeUnixNano: string; attributes: Record<string, unknown> }[]
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[]
  status: { code: number; message: string }
  resource: Record<string, unknown>
}

const PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10; repeated Event events = 11; uint32 dropped_events_count = 12;
  repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15; fixed32 flags = 16;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`
const Request = protobuf.parse(PROTO, { keepCase: false }).root.lookupType("otlp.ExportTraceServiceRequest")

const hex = (value: unknown) =>
  typeof value === "string" ? value : value ? Buffer.from(value as Uint8Array).toString("hex") : ""

function anyValue(value: any): unknown {
  if (!value) return undefined
  if (value.stringValue !== undefined) return value.stringValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return Number(value.doubleValue)
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValue)
  return undefined
}

const attributes = (list: any[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv: any) => [kv.key, anyValue(kv.value)]))

function spansOf(request: any): DecodedSpan[] {
  return (request.resourceSpans ?? []).flatMap((rs: any) =>
    (rs.scopeSpans ?? []).flatMap((ss: any) =>
      (ss.spans ?? []).map((span: any): DecodedSpan => ({
        traceId: hex(span.traceId),
        spanId: hex(span.spanId),
        parentSpanId: hex(span.parentSpanId),
        name: span.name,
        kind: Number(span.kind ?? 0),
        startTimeUnixNano: String(span.startTimeUnixNano),
        endTimeUnixNano: String(span.endTimeUnixNano),
        attributes: attributes(span.attributes),
        events: (span.events ?? []).map((event: any) => ({
          name: event.name,
          timeUnixNano: String(event.timeUnixNano),
          attributes: attributes(event.attributes),
        })),
        links: (span.links ?? []).map((link: any) => ({
          traceId: hex(link.traceId),
          spanId: hex(link.spanId),
          attributes: attributes(link.attributes),
        })),
        status: { code: Number(span.status?.code ?? 0), message: span.status?.message ?? "" },
        resource: attributes(rs.resource?.attributes),
      })),
    ),
  )
}

/** The spans of an OTLP/HTTP JSON body. */
export function decodeJson(body: Buffer): DecodedSpan[] {
  return spansOf(JSON.parse(body.toString("utf8")))
}

/** The spans of an OTLP/HTTP protobuf body, decoded with this file's own declaration of the proto. */
export function decodeProtobuf(body: Buffer): DecodedSpan[] {
  const message = Request.decode(body)
  return spansOf(Request.toObject(message, { longs: String, enums: Number, bytes: Array, defaults: false }))
}

/** Every span the receiver got, decoded by each request's content type. */
export function receivedSpans(receiver: Receiver): DecodedSpan[] {
  return receiver.requests.flatMap((request) =>
    String(request.headers["content-type"]).includes("json") ? decodeJson(request.body) : decodeProtobuf(request.body),
  )
}
