/** Node helper: an export file's bytes as text. */
import { Buffer } from "node:buffer"
import { TextDecoder } from "node:util"
import { stripByteOrderMark } from "../export-reader.ts"

/**
 * The text of an export file's bytes, by its byte-order mark: UTF-16 (either byte order) as
 * written by PowerShell's `>`, else UTF-8 (a UTF-8 mark dropped). JSON.parse knows none of them.
 *
 * @example readExport(decodeExportBytes(readFileSync(file)))
 */
export function decodeExportBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString("utf16le")
  if (buf[0] === 0xfe && buf[1] === 0xff) {
    const body = Buffer.from(buf.subarray(2, buf.length - (buf.length % 2))) // a copy: swap16 works in place
    return body.swap16().toString("utf16le")
  }
  return stripByteOrderMark(buf.toString("utf8"))
}

/**
 * `decodeExportBytes` a chunk at a time: the text of a file read in chunks, by the same marks
 * (a character split across two chunks is decoded whole).
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
  // A UTF-16 file's odd last byte is no character: dropped, as `decodeExportBytes` drops it.
  if (decoder && !(decoder.encoding.startsWith("utf-16") && bytes % 2 === 1)) yield decoder.decode()
}
