/**
 * Ids of the server's records: `prefix_` + a time-ordered part + randomness, within the spine
 * schemas' `[A-Za-z0-9_-]{1,64}` alphabet.
 *
 * @example newId("run") // "run_m3x9k2a1b4c5d6e7f8"
 */
import { randomFillSync } from "node:crypto"

export type IdPrefix = "ses" | "msg" | "prt" | "run" | "lc" | "ins" | "req" | "boot"

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${Date.now().toString(36)}${randomHex16()}`
}

// Random bytes drawn in batches: one `randomBytes(8)` call per id was about a sixth of a small
// request's CPU time (every request gets an id; measured by bench/). Same entropy per id.
const RANDOM_POOL = Buffer.alloc(4096)
let randomOffset = RANDOM_POOL.length

function randomHex16(): string {
  if (randomOffset + 8 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL)
    randomOffset = 0
  }
  const hex = RANDOM_POOL.toString("hex", randomOffset, randomOffset + 8)
  randomOffset += 8
  return hex
}
