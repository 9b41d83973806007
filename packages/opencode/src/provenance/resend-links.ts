/**
 * Resend links between runs: each run that was sent again, and the latest run sent again for it.
 * One rule for the incident chains (from summaries and crash records) and the app (from the live
 * run list).
 */

/** A run as a resend link needs it: its id, when it started, and the run it resent. */
interface ResendLinked {
  runId: string
  startedAt: number
  resendOf?: string | undefined
}

/**
 * Each resent run's latest resend, by the id of the run it resent; a run naming itself is no link.
 *
 * @example latestResends([{ runId: "run_b", startedAt: 2, resendOf: "run_a" }]).get("run_a") // run_b's entry
 */
export function latestResends<T extends ResendLinked>(runs: Iterable<T>): Map<string, T> {
  const out = new Map<string, T>()
  for (const run of runs) {
    const of = run.resendOf
    if (!of || of === run.runId) continue
    const known = out.get(of)
    if (!known || known.startedAt <= run.startedAt) out.set(of, run)
  }
  return out
}
