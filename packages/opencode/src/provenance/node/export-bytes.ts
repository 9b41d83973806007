/** Node helper: an export file's bytes as text. */
import { TextDecoder } from "node:util"

/**
 * The text of a file read in chunks, by its byte-order mark: UTF-16 (either byte order) as
 * written by PowerShell's `>`, else UTF-8 (a UTF-8 mark dropped). JSON.parse knows none of them.
 * A character split across two chunks is decoded whole.
 *
 * @example for await (const text of decodeExportChunks(readRegularFileChunks(file, limits))) parser.next(text)
 */
export async function* decodeExportChunks(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let decoder: TextDecoder | undefined
  let bytes = 0
  for await (const chunk of chunks) {
    if (!decoder) {
      const encoding =
        chunk[0] === 0xff && chunk[1] === 0xfe
          ? "utf-16le"
          : chunk[0] === 0xfe && chunk[1] === 0xff
            ? "utf-16be"
            : "utf-8"
      // The mark itself is dropped (`ignoreBOM: false`).
      decoder = new TextDecoder(encoding)
    }
    bytes += chunk.length
    yield decoder.decode(chunk, { stream: true })
  }
  // A UTF-16 file's odd last byte is no character: dropped.
  if (decoder && !(decoder.encoding.startsWith("utf-16") && bytes % 2 === 1)) yield decoder.decode()
}
