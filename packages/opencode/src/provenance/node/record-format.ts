/** Node helper: the record format a server stores with its boot. */
import { createHash } from "node:crypto"
import { sessionExportJsonSchema } from "../export-document.ts"

let format: string | undefined

/**
 * Which shape of spine records this build writes: a digest of the export's JSON Schema, which
 * contains every record schema. A server stores it with its boot, so a reader can tell records
 * written by a build with its own schemas (validated when they were written; read back as they
 * are) from records of another build (validated on read). Computed once per process.
 *
 * @example recordFormat() // "3f9c0a6b1d2e4f58"
 */
export function recordFormat(): string {
  format ??= createHash("sha256").update(JSON.stringify(sessionExportJsonSchema())).digest("hex").slice(0, 16)
  return format
}
