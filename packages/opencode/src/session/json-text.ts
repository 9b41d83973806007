/**
 * JSON written in pieces, for answers that grow with a session (the export, the incident route,
 * the message and run lists): `jsonText` is `JSON.stringify` a piece at a time, `writeJsonText`
 * writes the pieces in batches and gives the server's event loop a turn wherever the text has one.
 */
import { setImmediate as nextTurn } from "node:timers/promises"

/**
 * Where a long read gives the server's event loop a turn: after each page of messages or runs and
 * each chunk of a list. Every read of a session is synchronous (SQLite), and a write to a client
 * that keeps up resolves without one, so without these a large session's export held the loop for
 * its whole length: no other request, SSE event or heartbeat was served, and a client's close was
 * noticed only once everything had been read. In the text, a turn is an empty piece.
 */
export const TURN: unique symbol = Symbol("turn")
export type Turn = typeof TURN

/** Runs `steps` to its end, giving the event loop a turn at each of its turns. */
export async function inTurns<T>(steps: Generator<Turn, T, undefined>): Promise<T> {
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value
    await nextTurn()
  }
}

/** `text`, then `close` once it ends, however it ends (written whole, stopped by its reader, or failed). */
export function* closing<T>(text: Generator<T, void, undefined>, close: () => void): Generator<T, void, undefined> {
  try {
    yield* text
  } finally {
    close()
  }
}

/** Bytes gathered before each write: few writes, none of them large. */
const WRITE_BYTES = 64 * 1024

/**
 * Writes the pieces of `text` (`jsonText`, `sessionExportText`) to `write` in batches of about
 * 64 kB, awaiting each write (the destination's backpressure), and gives the event loop a turn at
 * each turn of the text (an empty piece). Stops pulling as soon as `stopped()` says so: the rest
 * of the session is never read.
 * @returns whether the whole text was written.
 */
export async function writeJsonText(
  text: Iterator<string, void, undefined>,
  write: (chunk: string) => Promise<unknown>,
  stopped: () => boolean = () => false,
): Promise<boolean> {
  let batch = ""
  try {
    for (let piece = text.next(); ; piece = text.next()) {
      if (piece.value === "") {
        await nextTurn()
        if (stopped()) return false
        continue
      }
      if (!piece.done) batch += piece.value
      if (batch.length >= WRITE_BYTES || (piece.done && batch)) {
        await write(batch)
        batch = ""
      }
      if (piece.done) return true
      if (stopped()) return false
    }
  } finally {
    // Ends the reading where it stopped (a generator's `finally` blocks run).
    text.return?.()
  }
}

/** An array written one item at a time, as its items are pulled; each item is a plain value, or a turn (no item). */
export class Streamed {
  constructor(readonly items: Iterable<unknown>) {}
}
/** A value computed only when the writer reaches it. */
export class Deferred {
  constructor(readonly value: () => unknown) {}
}
/** A value computed in steps when the writer reaches it: `steps` yields a turn between steps and returns the value. */
export class Stepped {
  constructor(readonly steps: () => Generator<Turn, unknown, undefined>) {}
}
/** An object whose members are written one at a time (some of them `Streamed`). */
export class Members {
  constructor(readonly entries: [string, unknown][]) {}
}

/**
 * `JSON.stringify(value, null, indent)` in pieces: a plain value is one piece; an object with a
 * `Streamed`, `Deferred`, `Stepped` or `Members` inside is written member by member, a `Streamed`
 * item by item; a `Stepped` value's turns are empty pieces.
 */
export function* jsonText(value: unknown, indent: number, depth = 0): Generator<string, void, undefined> {
  const newline = (at: number) => (indent ? `\n${" ".repeat(indent * at)}` : "")
  if (value instanceof Deferred) value = value.value()
  else if (value instanceof Stepped) {
    const steps = value.steps()
    try {
      for (let step = steps.next(); ; step = steps.next()) {
        if (step.done) {
          value = step.value
          break
        }
        yield ""
      }
    } finally {
      // A reader that stops mid-way ends the steps too (their own `finally` blocks run).
      steps.return(undefined)
    }
  }
  if (value instanceof Streamed) {
    // An item is a plain value: one JSON.stringify each, no descent.
    const open = newline(depth + 1)
    let first = true
    for (const item of value.items) {
      if (item === TURN) {
        yield ""
        continue
      }
      const text = JSON.stringify(item, null, indent)
      yield `${first ? "[" : ","}${open}${indent ? text.replaceAll("\n", open) : text}`
      first = false
    }
    yield first ? "[]" : `${newline(depth)}]`
    return
  }
  const entries =
    value instanceof Members
      ? value.entries
      : isPlainObject(value) && Object.values(value).some(isPiecewise)
        ? Object.entries(value)
        : undefined
  if (!entries) {
    // JSON never holds a raw newline inside a string: every newline here is indentation.
    const text = JSON.stringify(value, null, indent)
    yield indent && depth ? text.replaceAll("\n", newline(depth)) : text
    return
  }
  let first = true
  for (const [key, member] of entries) {
    if (member === undefined) continue
    yield `${first ? "{" : ","}${newline(depth + 1)}${JSON.stringify(key)}${indent ? ": " : ":"}`
    yield* jsonText(member, indent, depth + 1)
    first = false
  }
  yield first ? "{}" : `${newline(depth)}}`
}

const isPiecewise = (value: unknown) =>
  value instanceof Streamed || value instanceof Deferred || value instanceof Stepped || value instanceof Members
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
