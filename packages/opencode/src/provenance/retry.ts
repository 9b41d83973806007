/**
 * The retry verdict (docs/protocol.md, "Retry verdict"): judged from tool side-effect facts and
 * visible output only. It takes no cause on purpose: why a run stopped never changes whether
 * running it again can repeat a side effect.
 */
import type { RetryVerdict, SideEffectKind } from "./schemas.ts"

/** A started tool as retry safety sees it; `unknown` is a tool an old writer recorded without its kind. */
export interface RetryToolFact {
  kind: SideEffectKind | "unknown"
}

interface RetryFacts {
  /** Every tool the run started, completed or not. */
  tools?: readonly RetryToolFact[] | undefined
  /** Whether the writer recorded tool facts at all (journal intact, writer new enough). */
  toolFactsRecorded: boolean
  /** Whether the user saw partial output. */
  visibleOutput?: boolean | undefined
}

const SIDE_EFFECT_KINDS = ["write", "exec", "network"] as const

/**
 * @example deriveRetry({ tools: [{ kind: "write" }], toolFactsRecorded: true })
 *   // { safe: false, basis: ["side_effect_tool_started", "kind:write"] }
 */
export function deriveRetry(facts: RetryFacts): RetryVerdict {
  const tools = facts.tools ?? []
  const started = new Set(tools.map((tool) => tool.kind))
  // A recorded side effect is decisive even when the rest of the facts were lost.
  const sideEffects = SIDE_EFFECT_KINDS.filter((kind) => started.has(kind))
  if (sideEffects.length > 0) {
    return { safe: false, basis: ["side_effect_tool_started", ...sideEffects.map((kind) => `kind:${kind}`)] }
  }
  if (!facts.toolFactsRecorded) return { safe: "unknown", basis: ["tool_facts_not_recorded"] }
  // A tool that started with no recorded kind may have written: never call that safe.
  if (started.has("unknown")) return { safe: "unknown", basis: ["tool_kind_not_recorded"] }
  return { safe: true, basis: facts.visibleOutput ? ["no_side_effects", "visible_output_seen"] : ["no_side_effects"] }
}
