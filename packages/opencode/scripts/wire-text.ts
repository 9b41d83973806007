/**
 * A zod schema as the short TypeScript-like text docs/api-shapes.md shows: `{ id: string,
 * lastRun?: LastRun }`. Schemas that have a name in `names` are shown by that name, except the
 * one being defined. Output shapes: a field with a default is always present.
 */
import type { z } from "zod"

/** Objects longer than this on one line are laid out one field a line. */
const INLINE_WIDTH = 88

interface Def {
  type: string
  [key: string]: unknown
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def

/**
 * @example zodText(Session, names, { root: true }) // "{\n  id: string\n  ...\n}"
 */
export function zodText(
  schema: z.ZodType,
  names: ReadonlyMap<z.ZodType, string>,
  options: { root?: boolean; inline?: boolean } = {},
  indent = "",
): string {
  const name = names.get(schema)
  if (name && !options.root) return name
  const def = defOf(schema)
  const inner = (next: z.ZodType) => zodText(next, names, { inline: options.inline }, indent)
  switch (def.type) {
    case "string":
      return "string"
    case "number":
      return "number"
    case "boolean":
      return "boolean"
    case "unknown":
    case "any":
      return "unknown"
    case "null":
      return "null"
    case "literal":
      return (def.values as unknown[]).map((value) => JSON.stringify(value)).join(" | ")
    case "enum":
      return Object.values(def.entries as Record<string, string>)
        .map((value) => JSON.stringify(value))
        .join(" | ")
    case "optional":
    case "default":
    case "prefault":
    case "catch":
    case "readonly":
    case "nonoptional":
      return inner(def.innerType as z.ZodType)
    case "nullable":
      return `${inner(def.innerType as z.ZodType)} | null`
    case "pipe":
      return inner(def.out as z.ZodType)
    case "array": {
      const element = inner(def.element as z.ZodType)
      return /[ |]/.test(element) && !element.startsWith("{") ? `(${element})[]` : `${element}[]`
    }
    case "union":
      return (def.options as z.ZodType[]).map(inner).join(" | ")
    case "record":
      return `{ [key: string]: ${inner(def.valueType as z.ZodType)} }`
    case "object":
      return objectText(def, names, options.inline === true, indent)
    default:
      throw new Error(`wire-text: no text for a zod ${def.type}`)
  }
}

function objectText(def: Def, names: ReadonlyMap<z.ZodType, string>, inline: boolean, indent: string): string {
  const shape = def.shape as Record<string, z.ZodType>
  const fields = (nested: string, oneLine: boolean) =>
    Object.entries(shape).map(([key, value]) => {
      const optional = defOf(value).type === "optional"
      return `${key}${optional ? "?" : ""}: ${zodText(value, names, { inline: oneLine }, nested)}`
    })
  const catchall = def.catchall && defOf(def.catchall as z.ZodType).type !== "never" ? ["…"] : []
  const flat = [...fields(indent, true), ...catchall]
  const one = flat.length === 0 ? "{}" : `{ ${flat.join(", ")} }`
  if (inline || one.length + indent.length <= INLINE_WIDTH) return one
  const nested = `${indent}  `
  return `{\n${[...fields(nested, false), ...catchall].map((line) => `${nested}${line}`).join("\n")}\n${indent}}`
}
