/**
 * Trace export's configuration from the standard variables (pure): the endpoint rules, the
 * protocol, headers and resource, what turns export off, what is refused in words; and the rule
 * that keeps an unconfigured server's cost unchanged: OpenTelemetry is imported by one module
 * only, and that module only dynamically.
 */
import { readFileSync } from "node:fs"
import path from "node:path"
import { describe, expect, test } from "vitest"
import { otlpSettingFromEnv } from "../../src/tracing/otlp-config.ts"
import { OPENCODE_SRC, sourceFiles } from "../architecture/source-graph.ts"

const enabled = (env: Record<string, string>) => {
  const setting = otlpSettingFromEnv(env)
  if (!setting.enabled) throw new Error(`not enabled: ${JSON.stringify(setting)}`)
  return setting.config
}

describe("endpoint rules", () => {
  test("/v1/traces is appended to the generic endpoint only (a trailing slash or a base path kept)", () => {
    expect(enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }).url).toBe(
      "http://localhost:4318/v1/traces",
    )
    expect(enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector/otlp/" }).url).toBe(
      "http://collector/otlp/v1/traces",
    )
    expect(
      enabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9/x" }).url,
    ).toBe("http://b:9/x")
  })

  test("unset or blank: not configured", () => {
    expect(otlpSettingFromEnv({})).toEqual({ enabled: false, reason: "not_configured" })
    expect(otlpSettingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: " " })).toEqual({
      enabled: false,
      reason: "not_configured",
    })
  })

  test("not a URL, or not http(s): refused in words", () => {
    expect(otlpSettingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318" })).toMatchObject({ reason: "invalid" })
    expect(otlpSettingFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://x" })).toEqual({
      enabled: false,
      reason: "invalid",
      error: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https:// URL",
    })
  })
})

describe("protocol, headers, resource, timeout", () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }
  test("http/protobuf by default; http/json; the traces-specific variable wins; grpc refused", () => {
    expect(enabled(endpoint).protocol).toBe("http/protobuf")
    expect(enabled({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }).protocol).toBe("http/json")
    expect(
      enabled({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" })
        .protocol,
    ).toBe("http/json")
    expect(otlpSettingFromEnv({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatchObject({
      reason: "invalid",
      error: expect.stringContaining("grpc"),
    })
  })

  test("headers and resource attributes: key=value lists, percent-decoded, malformed pairs skipped", () => {
    const config = enabled({
      ...endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%2Cb,broken,=x,x-team=one",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=two",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=dev,service.name=from-attributes",
    })
    expect(config.headers).toEqual({ "api-key": "a,b", "x-team": "two" })
    expect(config.resource).toEqual({ "deployment.environment": "dev", "service.name": "from-attributes" })
    expect(
      enabled({ ...endpoint, OTEL_SERVICE_NAME: "svc", OTEL_RESOURCE_ATTRIBUTES: "service.name=x" }).resource,
    ).toEqual({
      "service.name": "svc",
    })
    expect(enabled(endpoint).resource).toEqual({ "service.name": "opencode" })
    expect(enabled({ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "2500" }).timeoutMs).toBe(2500)
    expect(enabled({ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "soon" }).timeoutMs).toBe(10_000)
  })

  test("turned off by OTEL_SDK_DISABLED=true or an OTEL_TRACES_EXPORTER without otlp", () => {
    for (const off of [
      { OTEL_SDK_DISABLED: "true" },
      { OTEL_SDK_DISABLED: "TRUE" },
      { OTEL_TRACES_EXPORTER: "none" },
      { OTEL_TRACES_EXPORTER: "otlp,none" },
      { OTEL_TRACES_EXPORTER: "console" },
    ])
      expect(otlpSettingFromEnv({ ...endpoint, ...off })).toEqual({ enabled: false, reason: "disabled" })
    expect(otlpSettingFromEnv({ ...endpoint, OTEL_SDK_DISABLED: "false", OTEL_TRACES_EXPORTER: "otlp" }).enabled).toBe(
      true,
    )
  })
})

describe("an unconfigured server loads no OpenTelemetry", () => {
  const EXPORTER = path.join(OPENCODE_SRC, "tracing/otlp-export.ts")
  const files = sourceFiles(OPENCODE_SRC).map((file) => ({ file, text: readFileSync(file, "utf8") }))

  test("only tracing/otlp-export.ts imports @opentelemetry packages", () => {
    const importing = files.filter(({ text }) => /from "@opentelemetry\//.test(text)).map(({ file }) => file)
    expect(importing).toEqual([EXPORTER])
  })

  test("and it is imported only dynamically (import type aside)", () => {
    const staticImports = files
      .filter(({ text }) => /^import (?!type )[^\n]*from "[./]+(?:tracing\/)?otlp-export\.ts"/m.test(text))
      .map(({ file }) => path.relative(OPENCODE_SRC, file))
    expect(staticImports).toEqual([])
    const dynamic = files.filter(({ text }) => /import\("[./]+(?:tracing\/)?otlp-export\.ts"\)/.test(text))
    expect(dynamic.map(({ file }) => path.relative(OPENCODE_SRC, file)).sort()).toEqual([
      "cli/explain.ts",
      "tracing/trace-delivery.ts",
    ])
  })
})
