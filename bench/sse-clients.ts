/**
 * The SSE clients of `sse-fanout.ts`, in their own process so that reading costs the server
 * nothing. Told `{ url, clients }` over IPC, it opens that many `GET /event` streams (plain
 * `node:http`, one socket each), answers `{ ready }` once every stream has its `server.connected`,
 * then counts every frame each stream receives. It reports the fewest any stream has received
 * (`{ progress }`, at most every few ms, so the publisher can stay within the server's per-client
 * bound) and, when told `{ expect }` and every stream has that many, `{ done, frames, chunks, starts }`
 * (`chunks`: the reads each stream took, about the writes the server made to it; `starts`: the
 * sequence number in each stream's `server.connected` id, after which it gets every event).
 */
import { request, type IncomingMessage } from "node:http"

interface Start {
  url: string
  clients: number
}

const FRAME_END = Buffer.from("\n\n")
/** How often at most the fewest frames received is sent to the publisher. */
const PROGRESS_MS = 2

const send = (message: unknown) => process.send!(message)

function open(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/event`, { agent: false, headers: { accept: "text/event-stream" } }, resolve)
    req.on("error", reject)
    req.end()
  })
}

process.once("message", (start: Start) => {
  void (async () => {
    // Frames received by each stream after its server.connected; -1 until that one arrives.
    const frames = new Array<number>(start.clients).fill(-1)
    const chunks = new Array<number>(start.clients).fill(0)
    const starts = new Array<number>(start.clients).fill(0)
    let expected = Infinity
    let reported = -1
    let progressTimer: NodeJS.Timeout | undefined
    let readyResolve!: () => void
    const ready = new Promise<void>((resolve) => (readyResolve = resolve))
    const fewest = () => frames.reduce((a, b) => Math.min(a, b), Infinity)
    const check = () => {
      if (!process.connected) return
      const least = fewest()
      if (least >= 0) readyResolve()
      if (least >= expected) {
        send({ done: true, frames, chunks, starts })
        expected = Infinity
        return
      }
      if (least > reported && !progressTimer)
        progressTimer = setTimeout(() => {
          progressTimer = undefined
          if (!process.connected) return
          reported = fewest()
          send({ progress: reported })
        }, PROGRESS_MS)
    }
    const responses = await Promise.all(Array.from({ length: start.clients }, () => open(start.url)))
    responses.forEach((res, i) => {
      // A frame boundary may fall between two chunks: the previous chunk's last byte says so.
      let endedWithNewline = false
      res.on("data", (chunk: Buffer) => {
        if (chunks[i] === 0) starts[i] = Number(/^id: [^:\n]*:(\d+)$/m.exec(chunk.toString("latin1"))?.[1] ?? 0)
        let count = endedWithNewline && chunk[0] === 0x0a ? 1 : 0
        for (let at = chunk.indexOf(FRAME_END); at !== -1; at = chunk.indexOf(FRAME_END, at + 2)) count++
        endedWithNewline = chunk[chunk.length - 1] === 0x0a
        frames[i] += count
        chunks[i]++
        check()
      })
    })
    await ready
    send({ ready: start.clients })
    process.on("message", (message: { expect?: number; close?: true }) => {
      if (message.expect !== undefined) {
        expected = message.expect
        check()
      }
      if (message.close) {
        clearTimeout(progressTimer)
        for (const res of responses) res.destroy()
        process.disconnect()
      }
    })
  })()
})
