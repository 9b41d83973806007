/**
 * Where an event of the history comes from: the kind of record it was read from (for the
 * history's filters), the waterfall rows drawing that record, and the record's attributes. The
 * attributes are read from records already parsed through the spine's allow-listed schemas, so a
 * field those schemas do not name never reaches them.
 */

/** The history's filters: a click in the app, a request, a close of the project, the run itself. */
export type HistoryRecordKind = "action" | "request" | "lifecycle" | "run"

/** The waterfall's row ids, one builder per kind of row (`waterfall.ts` draws them, the history links to them). */
export const ROW_ID = {
  action: (actionId: string) => `act:${actionId}`,
  request: (requestId: string) => `req:${requestId}`,
  lifecycle: (lifecycleId: string) => `lc:${lifecycleId}`,
  run: (runId: string) => `run:${runId}`,
  missing: (field: string) => `missing:${field}`,
  configChange: "change:config",
  contextChange: "change:context",
  signal: "signal",
  handler: "handler",
  remote: "remote",
  restart: "restart",
} as const

export interface HistorySource {
  recordKind: HistoryRecordKind
  rowIds: string[]
  attributes: [string, string][]
}

/**
 * A record flattened to `[path, value]` pairs in its schema's order: nested fields dotted, lists
 * of values joined, lists of records indexed.
 *
 * @example recordAttributes({ runId: "run_1", instance: { generation: 2 }, runIds: ["a", "b"] }) // [["runId", "run_1"], ["instance.generation", "2"], ["runIds", "a, b"]]
 */
export function recordAttributes(record: unknown, prefix = ""): [string, string][] {
  if (record === undefined) return []
  if (record === null || typeof record !== "object") return [[prefix || "value", String(record)]]
  const out: [string, string][] = []
  for (const [key, value] of Object.entries(record)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (value === undefined) continue
    if (Array.isArray(value)) {
      if (value.some((item) => item !== null && typeof item === "object"))
        value.forEach((item, index) => out.push(...recordAttributes(item, `${path}[${index}]`)))
      else out.push([path, value.length > 0 ? value.map(String).join(", ") : "[]"])
    } else if (value !== null && typeof value === "object") {
      out.push(...recordAttributes(value, path))
    } else {
      out.push([path, String(value)])
    }
  }
  return out
}

/** A part of a run's record (its output, a tool, the watchdog), with the run's id. */
export function runPart(runId: string, part: Record<string, unknown>, rowIds: string[] = []): HistorySource {
  return {
    recordKind: "run",
    rowIds: [...rowIds, ROW_ID.run(runId)],
    attributes: [["runId", runId], ...recordAttributes(part)],
  }
}
