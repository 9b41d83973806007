/**
 * Ids of the server's records: `prefix_` + a time-ordered part + randomness, within the spine
 * schemas' `[A-Za-z0-9_-]{1,64}` alphabet.
 *
 * @example newId("run") // "run_m3x9k2a1b4c5d6e7f8"
 */
import { randomFillSync } from "node:crypto"

type IdPrefix = "ses" | "msg" | "prt" | "run" | "lc" | "ins" | "req" | "boot"

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${timePart()}${randomHex16()}`
}

// Every request gets an id, so both parts are cheap (measured by bench/): the time part is
// recomputed only when the millisecond changes, and random bytes are drawn in batches and
// hex-encoded once per batch (one `randomBytes(8)` per id was about a sixth of a small request's
// CPU). Same format and same entropy per id.
let lastMs = -1
let lastTimePart = ""

function timePart(): string {
  const ms = Date.now()
  if (ms !== lastMs) {
    lastMs = ms
    lastTimePart = ms.toString(36)
  }
  return lastTimePart
}

const RANDOM_POOL = Buffer.alloc(4096)
let randomHex = ""
let randomOffset = 0

function randomHex16(): string {
  if (randomOffset + 16 > randomHex.length) {
    randomFillSync(RANDOM_POOL)
    randomHex = RANDOM_POOL.toString("hex")
    randomOffset = 0
  }
  const hex = randomHex.slice(randomOffset, randomOffset + 16)
  randomOffset += 16
  return hex
}
