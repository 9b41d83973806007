/** The published JSON Schema is generated from the one zod schema of the export, and committed up to date. */
import { readFileSync } from "node:fs"
import { describe, expect, test } from "vitest"
import { renderSchema, SCHEMA_FILE } from "../../scripts/generate-schema.ts"
import { SessionExportDocument, sessionExportJsonSchema } from "../../src/provenance/index.ts"

describe("schema/session-export.v2.schema.json", () => {
  test("the committed file is what `npm run schema` generates (run it when this fails)", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(renderSchema())
  })

  test("it describes version 2 of opencode.session-export, with every top-level field required but the title", () => {
    const schema = sessionExportJsonSchema() as any
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema")
    expect(schema.properties.schema.const).toBe("opencode.session-export")
    expect(schema.properties.version.const).toBe(2)
    expect([...schema.required].sort()).toEqual(["diagnostics", "exportedAt", "incidents", "messages", "schema", "session", "version", "writer"])
    expect(schema.properties.session.required).not.toContain("title")
    expect([...schema.properties.diagnostics.required].sort()).toEqual(["crashes", "lifecycle", "renderer", "requests", "runs", "truncated"])
    const chain = schema.properties.incidents.items
    expect(chain.properties.verdict.enum).toEqual(["diagnosed", "partially_diagnosed", "missing_provenance", "crash_evidence", "remote_reported"])
    expect(chain.properties.links.items.properties.status.enum).toContain("not_recorded_by_writer")
  })

  test("the zod schema rejects what a version 2 document must not be", () => {
    const minimal = {
      schema: "opencode.session-export",
      version: 2,
      exportedAt: 1,
      writer: { name: "w", version: "1" },
      session: { id: "ses_a", directory: { digest: "0123456789abcdef", depth: 2 } },
      messages: [],
      diagnostics: { runs: [], lifecycle: [], requests: [], renderer: [], crashes: [], truncated: {} },
      incidents: [],
    }
    expect(SessionExportDocument.parse(minimal)).toEqual(minimal)
    expect(SessionExportDocument.safeParse({ ...minimal, version: 1 }).success).toBe(false)
    expect(SessionExportDocument.safeParse({ ...minimal, session: { ...minimal.session, directory: "/home/alice/repo" } }).success).toBe(false)
    expect(SessionExportDocument.safeParse({ ...minimal, diagnostics: { ...minimal.diagnostics, truncated: { runs: { kept: -1, dropped: 0 } } } }).success).toBe(false)
  })
})
