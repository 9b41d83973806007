/**
 * Version 2 (and newer files, best effort): every record list, and the file's own incidents,
 * which are claims checked against the records.
 */
import { z } from "zod"
import { SUPPORTED_EXPORT_VERSION } from "../export-version.ts"
import { deriveIncidentChains, recheckChain } from "../incident-chain.ts"
import { codeToken, nameToken } from "../foreign-text.ts"
import { plain } from "../plain-text.ts"
import { ClientAction, CrashEvidence, IncidentChain, LifecycleAction, Origin, RequestContext } from "../schemas.ts"
import {
  asList,
  cap,
  emptyResult,
  isObject,
  type Json,
  readList,
  readMessages,
  readRuns,
  readSession,
  type ReadSuccess,
  TOP_LEVEL_FIELDS,
  unknownKeys,
} from "./common.ts"
import { unique } from "../unique.ts"

const DIAGNOSTICS_FIELDS = new Set(["runs", "lifecycle", "requests", "renderer", "crashes", "truncated", "degraded"])
const MAX_NAMED_WARNINGS = 10

export function readVersion2(doc: Json, version: number, warnings: string[]): ReadSuccess {
  const result = emptyResult("v2", warnings)
  result.version = version
  const writer = z.object({ name: z.string().max(64), version: z.string().max(64) }).safeParse(doc.writer)
  const name = writer.success ? codeToken(writer.data.name) : undefined
  const writerVersion = writer.success ? codeToken(writer.data.version) : undefined
  if (name && writerVersion) result.writer = { name, version: writerVersion }
  readSession(doc.session, result)
  readMessages(doc.messages, result)
  result.unknownFields = unknownKeys(doc, TOP_LEVEL_FIELDS, "")

  const diagnostics = isObject(doc.diagnostics) ? doc.diagnostics : undefined
  let derived: IncidentChain[] = []
  if (diagnostics) {
    result.unknownFields.push(...unknownKeys(diagnostics, DIAGNOSTICS_FIELDS, "diagnostics."))
    const runs = readRuns(asList(diagnostics.runs, "runs", result), result)
    const lifecycle = readList(diagnostics.lifecycle, "lifecycle", LifecycleAction, result)
    const requests = readList(diagnostics.requests, "requests", RequestContext, result)
    const renderer = readList(diagnostics.renderer, "renderer", ClientAction, result)
    const crashes = readList(diagnostics.crashes, "crashes", CrashEvidence, result)
    Object.assign(result.counts, {
      lifecycle: lifecycle.length,
      requests: requests.length,
      renderer: renderer.length,
      crashes: crashes.length,
    })
    readTruncated(diagnostics.truncated, result)
    derived = deriveIncidentChains({ runs, lifecycle, requests, renderer, crashes, writerVersion: version })
  } else if (doc.diagnostics !== undefined) {
    result.warnings.push("The diagnostics field is not an object; it was ignored.")
  }
  result.incidents = reconcileIncidents(derived, doc.incidents, result)
  result.notRecorded = unique(result.incidents.flatMap((chain) => chain.notRecorded ?? []))
  result.unknownFields = cap(result.unknownFields)
  if (version > SUPPORTED_EXPORT_VERSION) {
    const named =
      result.unknownFields.length > 0 ? ` Fields not understood: ${result.unknownFields.slice(0, 20).join(", ")}.` : ""
    result.warnings.unshift(
      `The file is version ${version}; this reader understands version ${SUPPORTED_EXPORT_VERSION}, so it was read best effort.${named}`,
    )
  }
  return result
}

/**
 * The file's own incidents are claims. Where its records let us re-derive a chain, the derived
 * one is used and any disagreement is reported; a chain whose records are absent (capped away) is
 * re-checked from its own origin and links.
 */
function reconcileIncidents(derived: IncidentChain[], written: unknown, result: ReadSuccess): IncidentChain[] {
  const claims = incidentClaims(derived, result)
  const rechecked = asList(written, "incidents", result).flatMap((raw) => claims.add(raw) ?? [])
  claims.finish()
  return [...derived, ...rechecked]
}

/** The file's claims read one at a time (a large file's are never all held): see `reconcileIncidents`. */
interface IncidentClaims {
  /** The chain this claim adds (re-checked from its own links), or undefined when it adds none. */
  add(raw: unknown): IncidentChain | undefined
  /** Pushes the warnings about every claim added onto the result. */
  finish(): void
}

export function incidentClaims(derived: IncidentChain[], result: ReadSuccess): IncidentClaims {
  const byRun = new Map(derived.map((chain) => [chain.runId, chain]))
  // Only the first few are named; the rest are counted.
  const disagreements: string[] = []
  let disagreeing = 0
  const disagree = (words: string) => {
    if (disagreeing++ < MAX_NAMED_WARNINGS) disagreements.push(words)
  }
  const seen = new Set<string>()
  let unreadable = 0
  let rechecked = 0
  return {
    add(raw) {
      const parsed = IncidentChain.safeParse(raw)
      if (!parsed.success) {
        unreadable++
        return undefined
      }
      const claim = parsed.data
      if (seen.has(claim.runId)) return undefined
      seen.add(claim.runId)
      const ours = byRun.get(claim.runId)
      if (ours) {
        if (ours.verdict !== claim.verdict || ours.classification !== claim.classification) {
          disagree(
            `run ${claim.runId}: the file says ${claim.classification}/${claim.verdict}, its records say ${ours.classification}/${ours.verdict}`,
          )
        }
        return undefined
      }
      const checked = recheckChain(sanitizeChain(claim))
      if (checked.verdict !== claim.verdict) {
        disagree(`run ${claim.runId}: the file says ${claim.verdict}, its own links support ${checked.verdict}`)
      }
      rechecked++
      return checked
    },
    finish() {
      if (unreadable > 0)
        result.warnings.push(`${unreadable} incident(s) in the file could not be read and were skipped.`)
      if (rechecked > 0) {
        result.warnings.push(
          `${rechecked} incident(s) have no records in the file to re-derive them from; they were re-checked from their own links.`,
        )
      }
      if (disagreeing > 0) {
        const more = disagreeing > MAX_NAMED_WARNINGS ? `; and ${disagreeing - MAX_NAMED_WARNINGS} more` : ""
        result.warnings.push(
          `The file's incidents disagree with what this reader derives (the derived verdicts are shown): ${disagreements.join("; ")}${more}.`,
        )
      }
    },
  }
}

/** Keeps only allow-listed origin fields and drops an embedded remote chain from an imported claim. */
function sanitizeChain(chain: IncidentChain): IncidentChain {
  const origin = Origin.safeParse(chain.origin)
  const { remote: _remote, ...rest } = chain
  return { ...rest, origin: origin.success ? origin.data : { kind: plain(chain.origin.kind, 32) } }
}

function readTruncated(raw: unknown, result: ReadSuccess): void {
  const parsed = z
    .record(
      z.string().max(32),
      z.object({ kept: z.number().int().nonnegative(), dropped: z.number().int().nonnegative() }),
    )
    .safeParse(raw)
  if (!parsed.success) return
  for (const [list, counts] of Object.entries(parsed.data).slice(0, 16)) {
    result.truncated[list] = counts
    if (counts.dropped > 0)
      result.warnings.push(
        `The writer kept ${counts.kept} ${nameToken(list, 32) ?? "of some"} records and dropped ${counts.dropped}.`,
      )
  }
}
