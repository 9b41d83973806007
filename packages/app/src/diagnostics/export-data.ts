/**
 * Reads a session export (`GET /session/:id/export?content=diagnostics`) for the panel. The
 * incidents come from the spine's own reader, which re-derives every verdict from the records
 * instead of trusting the file; the records themselves are parsed one by one through the spine's
 * schemas for the timeline, and a record that does not parse is counted, not drawn.
 */
import {
  ClientAction,
  CrashEvidence,
  LifecycleAction,
  readExport,
  type ReadResult,
  RequestContext,
  RunSummary,
} from "opencode/provenance"
import type { z } from "zod"

/** The diagnostic records of one export, each parsed through the spine's schema. */
export interface DiagnosticsRecords {
  runs: RunSummary[]
  lifecycle: LifecycleAction[]
  requests: RequestContext[]
  renderer: ClientAction[]
  crashes: CrashEvidence[]
}

export interface ExportData {
  read: ReadResult
  records: DiagnosticsRecords
  /** Records that did not parse, per list. */
  skipped: number
}

export function exportData(doc: unknown): ExportData {
  const read = readExport(doc)
  const diagnostics =
    typeof doc === "object" && doc !== null && "diagnostics" in doc
      ? (doc as { diagnostics: unknown }).diagnostics
      : undefined
  const lists = typeof diagnostics === "object" && diagnostics !== null ? (diagnostics as Record<string, unknown>) : {}
  let skipped = 0
  const parseList = <T>(raw: unknown, schema: z.ZodType<T>): T[] => {
    if (!Array.isArray(raw)) return []
    const out: T[] = []
    for (const item of raw) {
      const parsed = schema.safeParse(item)
      if (parsed.success) out.push(parsed.data)
      else skipped++
    }
    return out
  }
  const records: DiagnosticsRecords = {
    runs: parseList(lists.runs, RunSummary),
    lifecycle: parseList(lists.lifecycle, LifecycleAction),
    requests: parseList(lists.requests, RequestContext),
    renderer: parseList(lists.renderer, ClientAction),
    crashes: parseList(lists.crashes, CrashEvidence),
  }
  return { read, records, skipped }
}

/** Saves a document as a JSON file through the browser's download. */
export function downloadJson(filename: string, doc: unknown): void {
  const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" })
  const url = URL.createObjectURL(blob)
  const anchor = document.createElement("a")
  anchor.href = url
  anchor.download = filename
  anchor.rel = "noopener"
  document.body.append(anchor)
  anchor.click()
  anchor.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1_000)
}
