/**
 * A remote workspace's own incident chain for a forwarded run. It is the remote's word, read as
 * hostile input exactly like an imported file's chain: only the allow-listed fields of the chain
 * and of its origin kind are kept, every list is capped, free text is reduced to tokens (its error
 * keeps code, class and status, never its excerpt; `foreign-text.ts`), a nested remote chain is
 * dropped, and the verdict is re-checked from the chain's own links. It is never local evidence.
 */
import { foreignChain } from "./foreign-text.ts"
import { recheckChain } from "./incident-chain.ts"
import { IncidentChain, Origin } from "./schemas.ts"

/** Caps of the lists a kept chain may hold (an imported run's `missing` is capped the same way). */
const REMOTE_CHAIN_CAPS = { missing: 32, notRecorded: 32, alsoRequestedBy: 64 } as const
/** A chain larger than this (as JSON) is not read at all: no remote needs that much to say why a run stopped. */
const MAX_CHAIN_JSON = 4 * 1024 * 1024

/** The chain as kept beside a forwarded run, or undefined when it is not a chain we can read. */
export function remoteChain(value: unknown): IncidentChain | undefined {
  try {
    const json = JSON.stringify(value)
    if (json === undefined || json.length > MAX_CHAIN_JSON) return undefined
    const parsed = IncidentChain.safeParse(JSON.parse(json))
    if (!parsed.success) return undefined
    const { remote: _nested, ...chain } = parsed.data
    const origin = Origin.safeParse(chain.origin)
    const seenHops = new Set<string>()
    // Only the fields its origin kind defines (the schema strips the rest), and only tokens in them.
    const kept = foreignChain(
      {
        ...chain,
        links: chain.links.filter((link) => !seenHops.has(link.hop) && seenHops.add(link.hop)),
        alsoRequestedBy: chain.alsoRequestedBy.slice(0, REMOTE_CHAIN_CAPS.alsoRequestedBy),
      },
      origin.success ? origin.data : undefined,
    )
    kept.missing = kept.missing.slice(0, REMOTE_CHAIN_CAPS.missing)
    if (kept.notRecorded) kept.notRecorded = kept.notRecorded.slice(0, REMOTE_CHAIN_CAPS.notRecorded)
    const checked = recheckChain(kept)
    return { ...checked, missing: checked.missing.slice(0, REMOTE_CHAIN_CAPS.missing) }
  } catch {
    // Values a JSON round trip cannot carry (cycles, throwing getters): not a chain.
    return undefined
  }
}
