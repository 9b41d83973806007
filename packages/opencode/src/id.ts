/**
 * Ids of the server's records: `prefix_` + a time-ordered part + randomness, within the spine
 * schemas' `[A-Za-z0-9_-]{1,64}` alphabet.
 *
 * @example newId("run") // "run_m3x9k2a1b4c5d6e7f8"
 */
import { randomBytes } from "node:crypto"

export type IdPrefix = "ses" | "msg" | "prt" | "run" | "lc" | "ins" | "req" | "boot"

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(8).toString("hex")}`
}
