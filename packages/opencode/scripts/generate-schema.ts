/**
 * Writes the session export's published JSON Schema from the one zod schema of the document
 * (`SessionExportDocument`). Run with `npm run schema`; `--check` exits 1 when the committed
 * file is out of date instead of writing it.
 */
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { sessionExportJsonSchema } from "../src/provenance/export-document.ts"

export const SCHEMA_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../schema/session-export.v2.schema.json")

export function renderSchema(): string {
  return `${JSON.stringify(sessionExportJsonSchema(), null, 2)}\n`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderSchema()
  if (process.argv.includes("--check")) {
    let current = ""
    try {
      current = readFileSync(SCHEMA_FILE, "utf8")
    } catch {
      // missing reads as out of date
    }
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), SCHEMA_FILE)} is out of date; run npm run schema`)
      process.exit(1)
    }
    console.log(`${path.relative(process.cwd(), SCHEMA_FILE)} is up to date`)
  } else {
    writeFileSync(SCHEMA_FILE, text)
    console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`)
  }
}
