/**
 * Node helper: an export file read as a stream of text, one top-level field at a time, so a large
 * file is never held whole (neither its bytes nor its text). The fields named in `lists` are read
 * one element at a time when they are lists: each element is parsed on its own by `JSON.parse` and
 * handed to the caller, who keeps what it needs. Every value is still parsed, so a file that is not
 * valid JSON is reported, with where.
 */
/** Why a file's JSON could not be read, in one sentence that says where. */
export class ExportScanError extends Error {
  constructor(
    message: string,
    /** The file holds nothing but whitespace. */
    readonly empty = false,
  ) {
    super(message)
    this.name = "ExportScanError"
  }
}

interface ScanOptions {
  /**
   * Top-level fields read one element at a time (when they are lists): the field becomes the list of
   * what its function returns for each element. `occurrence` counts the key's appearances (0 first).
   */
  lists: Record<string, (element: unknown, occurrence: number) => unknown>
  /** Awaited after each chunk is read (a consumer's backpressure). */
  between?: () => Promise<void> | undefined
  /** Top-level fields not parsed at all (their JSON is still checked for its brackets). */
  skip?: (key: string) => boolean
}

/**
 * The document, each field of `options.lists` that is a list holding what its function returned for
 * each element, and each skipped field undefined; a document that is not a JSON object is returned as `JSON.parse` gives it.
 *
 * @example const doc = await scanExport(decodeExportChunks(chunks), { lists: { incidents: (raw) => count++ } })
 */
export async function scanExport(chunks: AsyncIterable<string>, options: ScanOptions): Promise<unknown> {
  const parser = parseDocument(options)
  parser.next()
  for await (const chunk of chunks) {
    if (chunk === "") continue
    const step = parser.next(chunk)
    if (step.done) return finished(step.value)
    await options.between?.()
  }
  const step = parser.next(null)
  if (!step.done) throw new ExportScanError("The file is not valid JSON: it ends before its document does.")
  return finished(step.value)
}

function finished(value: { doc: unknown; trailing: boolean; at: number }): unknown {
  if (value.trailing)
    throw new ExportScanError(
      `The file is not valid JSON: there is more after its document (at character ${value.at}).`,
    )
  return value.doc
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d])

/**
 * The parser, fed chunks of text (`null` at the end): a generator that yields when it needs more.
 * Structure between the values it hands to `JSON.parse` (the top-level object, its keys, the
 * lists read element by element) is checked here.
 */
function* parseDocument(
  options: ScanOptions,
): Generator<void, { doc: unknown; trailing: boolean; at: number }, string | null> {
  let text = ""
  let pos = 0
  /** Characters of the file before `text`. */
  let before = 0
  let ended = false

  /** The next character that is not whitespace (its code), reading more as needed; -1 at the end. */
  function* peek(): Generator<void, number, string | null> {
    for (;;) {
      while (pos < text.length) {
        const code = text.charCodeAt(pos)
        if (!WHITESPACE.has(code)) return code
        pos++
      }
      if (ended) return -1
      before += text.length
      const more = yield
      if (more === null) {
        ended = true
        text = ""
      } else text = more
      pos = 0
    }
  }

  const at = () => before + pos + 1
  const unexpected = (code: number, what: string) =>
    new ExportScanError(
      code === -1
        ? "The file is not valid JSON: it ends before its document does."
        : `The file is not valid JSON: expected ${what} at character ${at()}.`,
    )

  /** One whole JSON value's text, from the next character that is not whitespace ("" when not `kept`). */
  function* valueText(kept = true): Generator<void, string, string | null> {
    const first = yield* peek()
    if (first === -1) throw unexpected(first, "a value")
    const startAt = at()
    const pieces: string[] = []
    let start = pos
    let depth = 0
    let inString = false
    let escaped = false
    const scalar = first !== 0x7b && first !== 0x5b && first !== 0x22
    for (;;) {
      for (; pos < text.length; pos++) {
        const code = text.charCodeAt(pos)
        if (inString) {
          if (escaped) escaped = false
          else if (code === 0x5c) escaped = true
          else if (code === 0x22) {
            inString = false
            if (depth === 0) {
              pos++
              return pieces.join("") + text.slice(start, pos)
            }
          }
        } else if (scalar) {
          // A number, true, false or null ends where a delimiter begins.
          if (WHITESPACE.has(code) || code === 0x2c || code === 0x5d || code === 0x7d) {
            return pieces.join("") + text.slice(start, pos)
          }
        } else if (code === 0x22) inString = true
        else if (code === 0x7b || code === 0x5b) depth++
        else if (code === 0x7d || code === 0x5d) {
          if (--depth === 0) {
            pos++
            return pieces.join("") + text.slice(start, pos)
          }
        }
      }
      if (kept) pieces.push(text.slice(start))
      before += text.length
      const more = ended ? null : yield
      if (more === null) {
        ended = true
        text = ""
        pos = 0
        if (scalar) return pieces.join("")
        throw new ExportScanError(
          `The file is not valid JSON: the value at character ${startAt} is not closed before the file ends.`,
        )
      }
      text = more
      pos = 0
      start = 0
    }
  }

  function parsed(json: string, startAt: number): unknown {
    try {
      return JSON.parse(json)
    } catch (error) {
      throw new ExportScanError(
        error instanceof SyntaxError
          ? `The file is not valid JSON: the value at character ${startAt} does not parse.`
          : "The file is too large or too deeply nested to parse.",
      )
    }
  }

  /** Reads one value, parsed. */
  function* value(): Generator<void, unknown, string | null> {
    yield* peek()
    const startAt = at()
    return parsed(yield* valueText(), startAt)
  }

  /** Reads a list one element at a time, handing each to `visit`. At its `[`. */
  function* elements(visit: (element: unknown) => unknown): Generator<void, unknown[], string | null> {
    pos++
    const kept: unknown[] = []
    if ((yield* peek()) === 0x5d) {
      pos++
      return kept
    }
    for (;;) {
      kept.push(visit(yield* value()))
      const next = yield* peek()
      pos++
      if (next === 0x5d) return kept
      if (next !== 0x2c) throw unexpected(next, "a comma or the end of a list")
    }
  }

  const first = yield* peek()
  if (first === -1) throw new ExportScanError("The file is empty.", true)
  if (first !== 0x7b) {
    // Not an object: readExport says what it is instead.
    const doc = yield* value()
    const after = yield* peek()
    return { doc, trailing: after !== -1, at: at() }
  }
  pos++
  const doc: Record<string, unknown> = {}
  const occurrences = new Map<string, number>()
  let next = yield* peek()
  if (next === 0x7d) pos++
  else
    for (;;) {
      if (next !== 0x22) throw unexpected(next, "a field name")
      const key = (yield* value()) as string
      const colon = yield* peek()
      if (colon !== 0x3a) throw unexpected(colon, "a colon")
      pos++
      const start = yield* peek()
      const occurrence = occurrences.get(key) ?? 0
      occurrences.set(key, occurrence + 1)
      const visit = Object.hasOwn(options.lists, key) ? options.lists[key] : undefined
      let field: unknown
      if (visit && start === 0x5b) {
        field = yield* elements((element) => visit(element, occurrence))
      } else if (options.skip?.(key)) {
        yield* valueText(false)
        field = undefined
      } else field = yield* value()
      // As JSON.parse does: a key named `__proto__` is an own field, and the last of a repeated key wins.
      Object.defineProperty(doc, key, { value: field, enumerable: true, writable: true, configurable: true })
      next = yield* peek()
      pos++
      if (next === 0x7d) break
      if (next !== 0x2c) throw unexpected(next, "a comma or the end of the document")
      next = yield* peek()
    }
  const after = yield* peek()
  return { doc, trailing: after !== -1, at: at() }
}
