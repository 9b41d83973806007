/** Version 1: messages only, or runs with the sparse facts of the first field export. */
import { deriveIncidentChains } from "../incident-chain.ts"
import {
  cap,
  emptyResult,
  fail,
  isObject,
  type Json,
  NOT_IN_MESSAGES_ONLY,
  readMessages,
  type ReadResult,
  readRunList,
  readSession,
  TOP_LEVEL_FIELDS,
  unknownKeys,
} from "./common.ts"
import { unique } from "../unique.ts"

/** What a version 1 file with run diagnostics cannot contain. */
const NOT_IN_V1_DIAGNOSTICS = [
  "origin",
  "request",
  "renderer_action",
  "lifecycle_action",
  "interrupt_meta",
  "tool_kinds",
  "crash_evidence",
]

export function readVersion1(doc: Json, warnings: string[]): ReadResult {
  const diagnostics = doc.diagnostics
  const hasRuns = isObject(diagnostics) && Array.isArray(diagnostics.runs)
  if (!hasRuns && doc.messages === undefined)
    return fail("The version 1 file has neither messages nor run diagnostics.")
  const result = emptyResult(hasRuns ? "v1-diagnostics" : "v1-messages", warnings)
  result.version = 1
  readSession(doc.session, result)
  readMessages(doc.messages, result)
  result.unknownFields = unknownKeys(doc, TOP_LEVEL_FIELDS, "")
  if (!hasRuns) {
    if (diagnostics !== undefined) result.warnings.push("The diagnostics field has no list of runs; it was ignored.")
    result.notRecorded = [...NOT_IN_MESSAGES_ONLY]
    return result
  }
  const runs = readRunList((diagnostics as Json).runs, result)
  result.unknownFields.push(...unknownKeys(diagnostics as Json, new Set(["runs"]), "diagnostics."))
  result.incidents = deriveIncidentChains({
    runs,
    lifecycle: [],
    requests: [],
    renderer: [],
    crashes: [],
    writerVersion: 1,
  })
  result.notRecorded = unique([
    ...NOT_IN_V1_DIAGNOSTICS,
    ...result.incidents.flatMap((chain) => chain.notRecorded ?? []),
  ])
  result.unknownFields = cap(result.unknownFields)
  return result
}
