// OpenTelemetry's Node HTTP auto-instrumentation, registered before `http` is loaded: a tracer
// provider with a BatchSpanProcessor to an exporter that counts and drops spans (so spans are
// really created, ended and exported, but nothing is written anywhere).
import { createRequire } from "node:module"
import { registerInstrumentations } from "@opentelemetry/instrumentation"
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node"

let exported = 0
const exporter = {
  export(spans, done) {
    exported += spans.length
    done({ code: 0 })
  },
  shutdown: async () => {},
  forceFlush: async () => {},
}
const processor = new BatchSpanProcessor(exporter)
const provider = new NodeTracerProvider({ spanProcessors: [processor] })
provider.register()
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] })
// The instrumentation patches `http` when it is required: do it now, before the server loads it.
createRequire(import.meta.url)("node:http")
globalThis.__benchSpans = async () => {
  await processor.forceFlush()
  return exported
}
