/**
 * Xvfb's framebuffer file (`-fbdir`: an XWD image of screen 0) as a PNG, so the suite can save
 * what the X display shows without an image tool installed.
 */
import { deflateSync } from "node:zlib"

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(buf: Buffer): number {
  let c = 0xffffffff
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, "ascii")
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

/** A 24- or 32-bit ZPixmap XWD (what Xvfb writes) to an RGB PNG; also counts distinct colours. */
export function xwdToPng(xwd: Buffer): { data: Buffer; width: number; height: number; distinctColors: number } {
  // The header is 25 big-endian CARD32s; see X11's XWDFile.h.
  const field = (i: number) => xwd.readUInt32BE(i * 4)
  const [headerSize, version, format] = [field(0), field(1), field(2)]
  if (version !== 7 || format !== 2) throw new Error(`not a ZPixmap XWD file (version ${version}, format ${format})`)
  const width = field(4)
  const height = field(5)
  const byteOrder = field(7) // 0 = LSBFirst
  const bitsPerPixel = field(11)
  const bytesPerLine = field(12)
  const masks = [field(14), field(15), field(16)]
  const ncolors = field(19)
  if (bitsPerPixel !== 32 && bitsPerPixel !== 24)
    throw new Error(`unsupported XWD depth: ${bitsPerPixel} bits per pixel`)
  const shift = (mask: number) => Math.log2(mask & -mask)
  const shifts = masks.map(shift)
  const pixels = headerSize + ncolors * 12
  const raw = Buffer.alloc((width * 3 + 1) * height)
  const colors = new Set<number>()
  const bytes = bitsPerPixel / 8
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) {
      const at = pixels + y * bytesPerLine + x * bytes
      const value =
        bytes === 4
          ? byteOrder === 0
            ? xwd.readUInt32LE(at)
            : xwd.readUInt32BE(at)
          : byteOrder === 0
            ? xwd.readUIntLE(at, 3)
            : xwd.readUIntBE(at, 3)
      for (let c = 0; c < 3; c++) raw[row + 1 + x * 3 + c] = ((value & masks[c]!) >>> shifts[c]!) & 0xff
      if (colors.size < 10_000) colors.add(value & (masks[0]! | masks[1]! | masks[2]!))
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.writeUInt8(8, 8) // bit depth
  ihdr.writeUInt8(2, 9) // colour type: RGB
  const data = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ])
  return { data, width, height, distinctColors: colors.size }
}
