/** Node helper: an export file's bytes as text. */
import { Buffer } from "node:buffer"
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
