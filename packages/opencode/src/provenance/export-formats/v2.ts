/**
 * Version 2 (and newer files, best effort): every record list, and the file's own incidents,
 * which are claims checked against the records.
 */
import { z } from "zod"
import { SUPPORTED_EXPORT_VERSION } from "../export-version.ts"
import { deriveIncidentChains, recheckChain } from "../incident-chain.ts"
import { codeToken, nameToken } from "../foreign-text.ts"
import { plain } from "../plain-text.ts"
import {
  ClientAction,
  CrashEvidence,
  type Hop,
  IncidentChain,
  LifecycleAction,
  Origin,
  RequestContext,
} from "../schemas.ts"
import {
  asList,
  cap,
  dropContradictedLifecycle,
  emptyResult,
  isObject,
  type Json,
  readList,
  readMessages,
  readRunList,
  readSession,
  type ReadSuccess,
  TOP_LEVEL_FIELDS,
  unknownKeys,
} from "./common.ts"
import { unique } from "../unique.ts"

const DIAGNOSTICS_FIELDS = new Set(["runs", "lifecycle", "requests", "renderer", "crashes", "truncated", "degraded"])
const MAX_NAMED_WARNINGS = 10

/**
 * Per read file: the runs it holds a summary of (a claim about one of them is checked against its
 * records), and those it contradicts itself about (a claim about one never stands in for them).
 */
const FILE_RUNS = new WeakMap<ReadSuccess, { runs: ReadonlySet<string>; doubted: ReadonlySet<string> }>()

/** The list each hop's record is kept in, to tell a hop the writer's cap dropped from one it never had. */
const HOP_LIST: Record<Hop, string> = {
  renderer: "renderer",
  request: "requests",
  lifecycle: "lifecycle",
  interrupt: "runs",
  run_summary: "runs",
}

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
    const doubted = new Set<string>()
    const read = readRunList(diagnostics.runs, result, doubted)
    const lifecycle = readList(diagnostics.lifecycle, "lifecycle", LifecycleAction, result, "lifecycleId")
    const runs = dropContradictedLifecycle(read, lifecycle, result, doubted)
    FILE_RUNS.set(result, { runs: new Set(read.map((run) => run.runId)), doubted })
    const requests = readList(diagnostics.requests, "requests", RequestContext, result, "requestId")
    const renderer = readList(diagnostics.renderer, "renderer", ClientAction, result, "actionId")
    const crashes = readList(diagnostics.crashes, "crashes", CrashEvidence, result, "runId")
    Object.assign(result.counts, {
      lifecycle: lifecycle.length,
      requests: requests.length,
      renderer: renderer.length,
      crashes: crashes.length,
    })
    readTruncated(diagnostics.truncated, result)
    derived = deriveIncidentChains({ runs, lifecycle, requests, renderer, crashes, writerVersion: version })
  } else {
    // A version 2 writer always writes its diagnostics: without them the file cannot say why a run stopped.
    result.diagnosticsMissing = true
    result.warnings.push(
      doc.diagnostics === undefined
        ? "The file has no diagnostics (the run records an export carries); it cannot say why any run stopped, and any stop it names is re-checked from its own links only."
        : "The diagnostics field is not an object; it was ignored, so the file cannot say why any run stopped.",
    )
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
 * re-checked from its own origin and links, and so is one whose re-derived chain lacks a record of
 * a list the writer capped (the writer derived its claim from every record). A claim about a run
 * whose summary in the file has no incident (it completed) adds none.
 */
function reconcileIncidents(derived: IncidentChain[], written: unknown, result: ReadSuccess): IncidentChain[] {
  const claims = incidentClaims(derived, result)
  const rechecked = asList(written, "incidents", result).flatMap((raw) => claims.add(raw) ?? [])
  claims.finish()
  return [...derived.filter((chain) => !claims.replaced.has(chain.runId)), ...rechecked]
}

/** The file's claims read one at a time (a large file's are never all held): see `reconcileIncidents`. */
interface IncidentClaims {
  /** The chain this claim adds (re-checked from its own links), or undefined when it adds none. */
  add(raw: unknown): IncidentChain | undefined
  /** The runs whose derived chain a claim's chain replaced: those derived chains are not shown. */
  readonly replaced: ReadonlySet<string>
  /** Pushes the warnings about every claim added onto the result. */
  finish(): void
}

export function incidentClaims(derived: IncidentChain[], result: ReadSuccess): IncidentClaims {
  const byRun = new Map(derived.map((chain) => [chain.runId, chain]))
  const { runs: fileRuns, doubted } = FILE_RUNS.get(result) ?? { runs: new Set<string>(), doubted: new Set<string>() }
  const replaced = new Set<string>()
  /** Whether a derived chain lacks a record the writer's cap may have dropped (its hop is missing and that hop's list was capped). */
  const cappedAway = (chain: IncidentChain) =>
    chain.links.some((link) => link.status === "missing" && (result.truncated[HOP_LIST[link.hop]]?.dropped ?? 0) > 0)
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
    replaced,
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
      const agrees = ours && ours.verdict === claim.verdict && ours.classification === claim.classification
      if (ours && !agrees && (!cappedAway(ours) || doubted.has(claim.runId))) {
        disagree(
          `run ${claim.runId}: the file says ${claim.classification}/${claim.verdict}, its records say ${ours.classification}/${ours.verdict}`,
        )
        return undefined
      }
      if (ours && agrees) return undefined
      if (!ours && fileRuns.has(claim.runId)) {
        // The run's summary is in the file, and its records derive no incident for it.
        disagree(
          `run ${claim.runId}: the file says ${claim.classification}/${claim.verdict}, its records say it has no incident`,
        )
        return undefined
      }
      const checked = recheckChain(sanitizeChain(claim))
      if (ours) {
        // Derived from what the writer's cap left: the writer's claim, re-checked from its own links, is shown.
        replaced.add(claim.runId)
        disagree(
          `run ${claim.runId}: its records left in the file (some were capped away) say ${ours.classification}/${ours.verdict}; the file's claim ${claim.classification}/${claim.verdict}, re-checked from its own links, is shown`,
        )
        rechecked++
        return checked
      }
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

/**
 * Keeps only allow-listed origin fields and drops an embedded remote chain from an imported claim.
 * A version 2 writer records every fact, so nothing in its claim is "not recorded by the writer":
 * such an origin is an unknown one, such a hop is missing, and a claim cannot excuse its gaps as
 * an old writer's (`notRecorded`). A stopped run with no origin reads as missing provenance.
 */
function sanitizeChain(chain: IncidentChain): IncidentChain {
  const origin = Origin.safeParse(chain.origin)
  const { remote: _remote, notRecorded: _notRecorded, ...rest } = chain
  const kind = plain(chain.origin.kind, 32)
  return {
    ...rest,
    links: chain.links.map((link) =>
      link.status === "not_recorded_by_writer" ? { ...link, status: "missing" as const } : link,
    ),
    origin: origin.success ? origin.data : { kind: kind === "not_recorded_by_writer" ? "unknown" : kind },
  }
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
