/**
 * Trace export's configuration, from the standard OpenTelemetry variables only (docs/protocol.md,
 * "Tracing"): export is on when an OTLP endpoint is named and neither `OTEL_SDK_DISABLED=true`
 * nor `OTEL_TRACES_EXPORTER=none` turns it off. Pure: no OpenTelemetry module is imported here,
 * so a server without these variables never loads one.
 */

type OtlpProtocol = "http/protobuf" | "http/json"

export interface OtlpConfig {
  /** Where spans are POSTed: the traces endpoint as given, or the generic one plus `/v1/traces`. */
  url: string
  protocol: OtlpProtocol
  headers: Record<string, string>
  /** `service.name` and the other `OTEL_RESOURCE_ATTRIBUTES`. */
  resource: Record<string, string>
  /** One export attempt, retries included (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s). */
  timeoutMs: number
}

type OtlpSetting =
  | { enabled: true; config: OtlpConfig }
  | { enabled: false; reason: "not_configured" | "disabled" }
  | { enabled: false; reason: "invalid"; error: string }

const DEFAULT_SERVICE_NAME = "opencode"
const DEFAULT_TIMEOUT_MS = 10_000

type Env = Record<string, string | undefined>

const set = (value: string | undefined) => (value !== undefined && value.trim() !== "" ? value.trim() : undefined)

/**
 * @example otlpSettingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" })
 *   // { enabled: true, config: { url: "http://localhost:4318/v1/traces", protocol: "http/protobuf", … } }
 */
export function otlpSettingFromEnv(env: Env): OtlpSetting {
  const tracesEndpoint = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  const endpoint = set(env.OTEL_EXPORTER_OTLP_ENDPOINT)
  if (!tracesEndpoint && !endpoint) return { enabled: false, reason: "not_configured" }
  if (set(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true") return { enabled: false, reason: "disabled" }
  const exporters = (set(env.OTEL_TRACES_EXPORTER) ?? "otlp").split(",").map((name) => name.trim().toLowerCase())
  if (exporters.includes("none") || !exporters.includes("otlp")) return { enabled: false, reason: "disabled" }

  // The spec: the signal-specific endpoint is used as is; the generic one gets the signal's path.
  const url = tracesEndpoint ?? `${endpoint!.replace(/\/+$/, "")}/v1/traces`
  const name = tracesEndpoint ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT"
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { enabled: false, reason: "invalid", error: `${name} is not a URL (expected http://host:4318)` }
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    return { enabled: false, reason: "invalid", error: `${name} must be an http:// or https:// URL` }

  const protocol =
    set(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? set(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? "http/protobuf"
  if (protocol !== "http/protobuf" && protocol !== "http/json")
    return {
      enabled: false,
      reason: "invalid",
      error: `OTEL_EXPORTER_OTLP_PROTOCOL "${protocol.slice(0, 32)}" is not supported; use http/protobuf or http/json`,
    }

  const headers = {
    ...keyValueList(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...keyValueList(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
  }
  const resource = keyValueList(env.OTEL_RESOURCE_ATTRIBUTES)
  resource["service.name"] = set(env.OTEL_SERVICE_NAME) ?? resource["service.name"] ?? DEFAULT_SERVICE_NAME
  const timeout = Number(set(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT) ?? set(env.OTEL_EXPORTER_OTLP_TIMEOUT))
  return {
    enabled: true,
    config: {
      url,
      protocol,
      headers,
      resource,
      timeoutMs: Number.isSafeInteger(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS,
    },
  }
}

/** `key1=value1,key2=value2`, each side percent-decoded (the spec's format for headers and resource attributes); malformed pairs are skipped. */
function keyValueList(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of (value ?? "").split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    try {
      const key = decodeURIComponent(pair.slice(0, at).trim())
      const val = decodeURIComponent(pair.slice(at + 1).trim())
      if (key) out[key] = val
    } catch {
      // A bad percent-escape: that pair only is skipped.
    }
  }
  return out
}
