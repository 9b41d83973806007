/**
 * A list without repeats, in first-seen order.
 *
 * @example unique(["run_a", "run_b", "run_a"]) // ["run_a", "run_b"]
 */
export function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)]
}
