/**
 * Wrong credentials counted per client address: a token or a sign-in code cannot be guessed
 * faster than `limit` tries a minute from one address. While an address is over the limit every
 * credential it presents is refused with 429, the right one too, so the answer tells a guesser
 * nothing. A valid session cookie (unguessable, issued here) is not a guess and still passes.
 */
import { getConnInfo } from "@hono/node-server/conninfo"
import type { Context } from "hono"
import { isInMemory } from "../in-memory.ts"
import { refuse } from "./refusal.ts"

type AuthFailureOptions = {
  /** Wrong attempts allowed per address in `windowMs`; the next is refused. */
  limit?: number
  windowMs?: number
  /** Addresses remembered at once; past it the least recently failed are forgotten. */
  maxAddresses?: number
  /** The clock, injected by tests. */
  now?: () => number
}

const AUTH_FAILURE_LIMIT = 10
const AUTH_FAILURE_WINDOW_MS = 60_000

/**
 * @example
 *   const failures = new AuthFailures()
 *   if (failures.retryAfter(addr) !== undefined) return tooManyAttempts(c, failures.retryAfter(addr)!)
 *   if (!ok) failures.record(addr)
 */
export class AuthFailures {
  private readonly limit: number
  private readonly windowMs: number
  private readonly maxAddresses: number
  private readonly now: () => number
  /** Each address's failure times inside the window, oldest first (a Map keeps insertion order for eviction). */
  private readonly byAddress = new Map<string, number[]>()

  constructor(options: AuthFailureOptions = {}) {
    this.limit = options.limit ?? AUTH_FAILURE_LIMIT
    this.windowMs = options.windowMs ?? AUTH_FAILURE_WINDOW_MS
    this.maxAddresses = options.maxAddresses ?? 10_000
    this.now = options.now ?? Date.now
  }

  private recent(address: string): number[] {
    const since = this.now() - this.windowMs
    const times = (this.byAddress.get(address) ?? []).filter((t) => t > since)
    if (times.length === 0) this.byAddress.delete(address)
    else this.byAddress.set(address, times)
    return times
  }

  /** Seconds until `address` may try again, or undefined when it may try now. */
  retryAfter(address: string): number | undefined {
    const times = this.recent(address)
    if (times.length < this.limit) return undefined
    const freedAt = times[times.length - this.limit]! + this.windowMs
    return Math.max(1, Math.ceil((freedAt - this.now()) / 1000))
  }

  /** Counts one wrong token or code from `address`. */
  record(address: string): void {
    const times = this.recent(address)
    times.push(this.now())
    // Only the last `limit` matter for the verdict; re-inserting moves the address to the end.
    this.byAddress.delete(address)
    this.byAddress.set(address, times.slice(-this.limit))
    while (this.byAddress.size > this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!)
  }
}

/**
 * The client's address as the socket saw it (no forwarding header is trusted); loopback for the
 * server's own in-memory requests; one bucket when there is no socket.
 */
export function clientAddress(c: Context): string {
  if (isInMemory(c)) return "127.0.0.1"
  try {
    return getConnInfo(c).remote.address ?? "unknown"
  } catch {
    return "unknown"
  }
}

/** `429 too_many_attempts` with `Retry-After`. */
export function tooManyAttempts(c: Context, retryAfterSeconds: number): Response {
  return refuse(
    c,
    429,
    "too_many_attempts",
    `too many wrong tokens or sign-in codes from this address; try again in ${retryAfterSeconds} s`,
    {
      "Retry-After": String(retryAfterSeconds),
    },
  )
}
