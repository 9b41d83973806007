/**
 * Writes what is generated from the zod schemas, so none of it can drift from the code:
 * - `schema/session-export.v2.schema.json`, from the export document (`SessionExportDocument`);
 * - `schema/wire.schema.json`, from the wire (`provenance/wire.ts`): every `/event` event, and
 *   the shapes the routes answer in `$defs`;
 * - the generated blocks of `docs/api-shapes.md` (between `<!-- wire: NAMES -->` and
 *   `<!-- /wire -->`), from the same wire schemas.
 * Run with `npm run schema`; `--check` exits 1 when a committed file is out of date instead of
 * writing it. test/export/schema.test.ts fails the same way.
 */
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { z } from "zod"
import { sessionExportJsonSchema } from "../src/provenance/export-document.ts"
import * as spine from "../src/provenance/schemas.ts"
import { ConfigDocument, EVENTS, SHAPES } from "../src/provenance/wire.ts"
import { zodText } from "./wire-text.ts"

const here = path.dirname(fileURLToPath(import.meta.url))
export const SCHEMA_FILE = path.resolve(here, "../schema/session-export.v2.schema.json")
export const WIRE_SCHEMA_FILE = path.resolve(here, "../schema/wire.schema.json")
export const API_SHAPES_FILE = path.resolve(here, "../../../docs/api-shapes.md")
export const WIRE_SCHEMA_ID = "urn:opencode-provenance:wire"

export function renderSchema(): string {
  return `${JSON.stringify(sessionExportJsonSchema(), null, 2)}\n`
}

/** The spine's records the wire carries, kept whole in `$defs` by name. */
const SPINE_DEFS = {
  RunSummary: spine.RunSummary,
  IncidentChain: spine.IncidentChain,
  LifecycleAction: spine.LifecycleAction,
}

/** The wire's JSON Schema (draft 2020-12): a `/event` message is one of the events; every shape is in `$defs`. */
export function wireJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>()
  for (const [name, schema] of Object.entries({ ...SHAPES, ConfigDocument, ...SPINE_DEFS }))
    registry.add(schema, { id: name })
  const eventIds: string[] = []
  for (const definition of Object.values(EVENTS)) {
    const id = `event:${definition.type}`
    eventIds.push(id)
    registry.add(
      z
        .object({ type: z.literal(definition.type), properties: definition.properties })
        .meta({ description: definition.description }),
      { id },
    )
  }
  const { schemas } = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io: "output",
    unrepresentable: "throw",
    uri: (id) => `#/$defs/${id}`,
  }) as {
    schemas: Record<string, Record<string, unknown>>
  }
  const defs: Record<string, unknown> = {}
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema
    defs[id] = rest
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: WIRE_SCHEMA_ID,
    title: "opencode-provenance wire",
    description: "One message of GET /event ({ type, properties }); the shapes the routes answer are in $defs.",
    oneOf: eventIds.map((id) => ({ $ref: `#/$defs/${id}` })),
    $defs: defs,
  }
}

export function renderWireSchema(): string {
  return `${JSON.stringify(wireJsonSchema(), null, 2)}\n`
}

/** Every schema that has a name: the wire's shapes and the spine's records, shown by name inside others. */
function namedSchemas(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>()
  for (const [name, value] of Object.entries(spine)) if (value instanceof z.ZodType) names.set(value, name)
  for (const [name, schema] of Object.entries(SHAPES)) names.set(schema, name)
  return names
}

function shapeBlock(names: readonly string[]): string {
  const named = namedSchemas()
  const lines = names.map((name) => {
    const schema = (SHAPES as Record<string, z.ZodType>)[name]
    if (!schema) throw new Error(`docs/api-shapes.md names ${name}, which provenance/wire.ts does not define in SHAPES`)
    const def = (schema as unknown as { _zod: { def: { type: string; options?: z.ZodType[] } } })._zod.def
    // A union of objects: one option a line.
    const text =
      def.type === "union"
        ? `\n  | ${def.options!.map((option) => zodText(option, named, {}, "    ")).join("\n  | ")}`
        : zodText(schema, named, { root: true })
    return `${name} =${text.startsWith("\n") ? "" : " "}${text}`
  })
  return ["```ts", ...lines, "```"].join("\n")
}

function eventTable(): string {
  const named = namedSchemas()
  const rows = Object.values(EVENTS).map((definition) => {
    const properties = zodText(definition.properties, named, { inline: true }).replaceAll("|", "\\|")
    return `| \`${definition.type}\` | \`${properties}\` | ${definition.description.replaceAll("|", "\\|")} |`
  })
  return ["| type | properties | sent |", "|---|---|---|", ...rows].join("\n")
}

const BLOCK = /<!-- wire: ([A-Za-z ]+) -->\n[\s\S]*?<!-- \/wire -->/g

/**
 * docs/api-shapes.md with every generated block written anew from the wire; the text around
 * the blocks is kept. Throws when a shape of `SHAPES` or the events table has no block.
 */
export function renderApiShapes(current: string): string {
  const shown = new Set<string>()
  const text = current.replace(BLOCK, (_match, spec: string) => {
    const names = spec.trim().split(/\s+/)
    for (const name of names) shown.add(name)
    const body = names.length === 1 && names[0] === "events" ? eventTable() : shapeBlock(names)
    return `<!-- wire: ${names.join(" ")} -->\n${body}\n<!-- /wire -->`
  })
  const absent = [...Object.keys(SHAPES), "events"].filter((name) => !shown.has(name))
  if (absent.length) throw new Error(`docs/api-shapes.md has no generated block for ${absent.join(", ")}`)
  return text
}

const OUTPUTS = [
  { file: SCHEMA_FILE, render: () => renderSchema() },
  { file: WIRE_SCHEMA_FILE, render: () => renderWireSchema() },
  { file: API_SHAPES_FILE, render: (current: string) => renderApiShapes(current) },
]

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let stale = 0
  for (const { file, render } of OUTPUTS) {
    let current = ""
    try {
      current = readFileSync(file, "utf8")
    } catch {
      // missing reads as out of date
    }
    const text = render(current)
    const shown = path.relative(process.cwd(), file)
    if (process.argv.includes("--check")) {
      if (current === text) console.log(`${shown} is up to date`)
      else {
        console.error(`${shown} is out of date; run npm run schema`)
        stale++
      }
    } else if (current !== text) {
      writeFileSync(file, text)
      console.log(`wrote ${shown}`)
    }
  }
  if (stale) process.exit(1)
}
