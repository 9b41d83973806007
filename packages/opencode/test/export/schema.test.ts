/**
 * The published JSON Schemas and the shapes of docs/api-shapes.md are generated from the zod
 * schemas (the export document's, the wire's), and committed up to date.
 */
import { readFileSync } from "node:fs"
import { describe, expect, test } from "vitest"
import {
  API_SHAPES_FILE,
  renderApiShapes,
  renderSchema,
  renderWireSchema,
  SCHEMA_FILE,
  WIRE_SCHEMA_FILE,
  wireJsonSchema,
} from "../../scripts/generate-schema.ts"
import { EVENTS } from "../../src/provenance/wire.ts"
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
    expect([...schema.required].sort()).toEqual([
      "diagnostics",
      "exportedAt",
      "incidents",
      "messages",
      "schema",
      "session",
      "version",
      "writer",
    ])
    expect(schema.properties.session.required).not.toContain("title")
    expect([...schema.properties.diagnostics.required].sort()).toEqual([
      "crashes",
      "lifecycle",
      "renderer",
      "requests",
      "runs",
      "truncated",
    ])
    const chain = schema.properties.incidents.items
    expect(chain.properties.verdict.enum).toEqual([
      "diagnosed",
      "partially_diagnosed",
      "missing_provenance",
      "crash_evidence",
      "remote_reported",
    ])
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
    expect(
      SessionExportDocument.safeParse({ ...minimal, session: { ...minimal.session, directory: "/home/alice/repo" } })
        .success,
    ).toBe(false)
    expect(
      SessionExportDocument.safeParse({
        ...minimal,
        diagnostics: { ...minimal.diagnostics, truncated: { runs: { kept: -1, dropped: 0 } } },
      }).success,
    ).toBe(false)
  })
})

describe("schema/wire.schema.json and docs/api-shapes.md", () => {
  test("the committed files are what `npm run schema` generates (run it when this fails)", () => {
    expect(readFileSync(WIRE_SCHEMA_FILE, "utf8")).toBe(renderWireSchema())
    const shapes = readFileSync(API_SHAPES_FILE, "utf8")
    expect(shapes).toBe(renderApiShapes(shapes))
  })

  test("a /event message is one of the wire's events, each with its type as a constant", () => {
    const schema = wireJsonSchema() as any
    expect(schema.oneOf).toHaveLength(Object.keys(EVENTS).length)
    for (const type of Object.keys(EVENTS)) expect(schema.$defs[`event:${type}`].properties.type.const).toBe(type)
    expect(Object.keys(schema.$defs)).toEqual(
      expect.arrayContaining([
        "Session",
        "MessageInfo",
        "Part",
        "Message",
        "Run",
        "RunSummary",
        "IncidentChain",
        "LifecycleAction",
      ]),
    )
  })

  test("docs/api-shapes.md shows every event, and a block the wire cannot fill fails the generator", () => {
    const shapes = readFileSync(API_SHAPES_FILE, "utf8")
    for (const type of Object.keys(EVENTS)) expect(shapes).toContain(`| \`${type}\` |`)
    expect(() => renderApiShapes(`${shapes}\n<!-- wire: NoSuchShape -->\n<!-- /wire -->\n`)).toThrow(/NoSuchShape/)
    expect(() => renderApiShapes(shapes.replace("<!-- wire: events -->", "<!-- events -->"))).toThrow(/events/)
  })
})
