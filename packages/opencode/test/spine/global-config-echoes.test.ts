/**
 * Which of the global config watcher's reads are echoes of our own route's writes. A read that
 * is taken for ours closes nothing; one taken wrongly for ours hides another program's edit (no
 * dispose_all, no incident), one taken wrongly for theirs blames an outside edit for our PATCH.
 */
import { expect, test } from "vitest"
import { GlobalConfig } from "../../src/config/global-config.ts"

/** A config whose writes happen at the times given (the watcher's clock), in order. */
function writes(...entries: [digest: string, at: number][]): GlobalConfig {
  const config = new GlobalConfig("/nonexistent", undefined)
  const now = performance.now
  try {
    for (const [digest, at] of entries) {
      performance.now = () => at
      config.wrote(digest)
    }
  } finally {
    performance.now = now
  }
  return config
}

test("an echo is ours once: the same content written again by another program is theirs", () => {
  const config = writes(["x", 1])
  expect(config.isOwnWrite("x", 2)).toBe(true)
  expect(config.isOwnWrite("x", 5)).toBe(false)
})

test("an outside edit read after our write replaced it: our content coming back later is theirs", () => {
  const config = writes(["x", 1])
  // The watcher never saw x (its events were folded into the outside edit's).
  expect(config.isOwnWrite("y", 2)).toBe(false)
  expect(config.isOwnWrite("x", 3)).toBe(false)
})

test("a write of ours made while the watcher read an outside edit is still ours when its echo comes", () => {
  const config = writes(["x", 5])
  // The read began at 4, before our write: what it found is another program's, and ours is still on its way.
  expect(config.isOwnWrite("y", 4)).toBe(false)
  expect(config.isOwnWrite("x", 6)).toBe(true)
})

test("queued PATCHes: echoes seen late or skipped are all ours, each once", () => {
  const config = writes(["a", 1], ["b", 2], ["c", 3])
  // The first read saw b (a was overwritten before it): a and b are done.
  expect(config.isOwnWrite("b", 2.5)).toBe(true)
  expect(config.isOwnWrite("c", 4)).toBe(true)
  expect(config.isOwnWrite("a", 5)).toBe(false)
  expect(config.isOwnWrite("b", 6)).toBe(false)
})

test("content we wrote twice: a read that began after both took the second; one between them the first", () => {
  const late = writes(["x", 1], ["y", 2], ["x", 3])
  expect(late.isOwnWrite("x", 4)).toBe(true)
  // Everything up to the second x is done: y coming back now is another program's.
  expect(late.isOwnWrite("y", 5)).toBe(false)

  const between = writes(["x", 1], ["y", 2], ["x", 3])
  expect(between.isOwnWrite("x", 1.5)).toBe(true)
  expect(between.isOwnWrite("y", 2.5)).toBe(true)
  expect(between.isOwnWrite("x", 3.5)).toBe(true)
})
