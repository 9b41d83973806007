/**
 * The whole session export, version 2 (docs/protocol.md, "Export format, version 2"), as ONE zod
 * schema. The writer's return type is `z.infer` of it, the published JSON Schema
 * (`schema/session-export.v2.schema.json`, `npm run schema`) is generated from it, and tests
 * parse the writer's output with it. Readers of untrusted files use `readExport`, never this
 * schema alone: this describes what we write, not everything we accept.
 */
import { z } from "zod"
import { EXPORT_SCHEMA, SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
import { ClientAction, CrashEvidence, IncidentChain, LifecycleAction, RequestContext, RunSummary } from "./schemas.ts"
import { MessageInfo, TextPart, ToolPart } from "./wire.ts"

/** A directory as it leaves the machine: a salted digest and the path's depth. */
const DirectoryDigest = z.object({
  digest: z.string().regex(/^[a-f0-9]{8,64}$/),
  depth: z.number().int().nonnegative(),
})

/** opencode's message, as the server answers it (`./wire.ts`). */
const ExportMessageInfo = MessageInfo
const ExportTextPart = TextPart
/** A text part of the diagnostics-only form: its length, never its text. */
const ExportTextLengthPart = z.object({
  id: z.string(),
  type: z.literal("text"),
  length: z.number().int().nonnegative(),
})
const ExportToolPart = ToolPart

const ExportMessage = z.object({
  info: ExportMessageInfo,
  parts: z.array(z.union([ExportTextPart, ExportTextLengthPart, ExportToolPart])),
})

const TruncationCount = z.object({
  kept: z.number().int().nonnegative(),
  dropped: z.number().int().nonnegative(),
})

export const SessionExportDocument = z
  .object({
    schema: z.literal(EXPORT_SCHEMA),
    version: z.literal(SUPPORTED_EXPORT_VERSION),
    exportedAt: z.number().int().nonnegative(),
    writer: z.object({ name: z.string().max(64), version: z.string().max(64) }),
    session: z.object({
      id: z.string(),
      /** Omitted from the diagnostics-only form. */
      title: z.string().optional(),
      directory: DirectoryDigest,
    }),
    /** User-visible content; in the diagnostics-only form, text parts carry only their length. */
    messages: z.array(ExportMessage),
    diagnostics: z.object({
      runs: z.array(RunSummary),
      lifecycle: z.array(LifecycleAction),
      requests: z.array(RequestContext),
      renderer: z.array(ClientAction),
      crashes: z.array(CrashEvidence),
      /** Lists the writer capped, with the counts kept and dropped. */
      truncated: z.record(z.string().max(32), TruncationCount),
      /**
       * Present when the writer's storage was degraded while it ran (locked, full, read-only):
       * which faults, and how many journal records could not be written.
       */
      degraded: z
        .object({
          faults: z.array(z.string().max(64)).max(16),
          lostRecords: z.number().int().nonnegative(),
          backlog: z.number().int().nonnegative(),
        })
        .optional(),
    }),
    incidents: z.array(IncidentChain),
  })
  .meta({
    title: "opencode session export, version 2",
    description:
      "A session, its messages, the diagnostic records linked to its runs, and the incident chains derived from them.",
  })
export type SessionExportDocument = z.infer<typeof SessionExportDocument>

export const SESSION_EXPORT_SCHEMA_ID = "urn:opencode-provenance:session-export:v2"

/** The published JSON Schema of the export (draft 2020-12), as `npm run schema` writes it. */
export function sessionExportJsonSchema(): Record<string, unknown> {
  // `output`: the shape the writer emits (defaults filled in, no undeclared fields). A reader of
  // files from other writers uses `readExport`, which is lenient where this schema is exact.
  const schema = z.toJSONSchema(SessionExportDocument, {
    target: "draft-2020-12",
    io: "output",
    unrepresentable: "throw",
  }) as Record<string, unknown>
  const { $schema, ...rest } = schema
  return { $schema, $id: SESSION_EXPORT_SCHEMA_ID, ...rest }
}
