/**
 * `server.connected` carries an SSE id like every other event, so a client that drops before any
 * other event arrives can still resume from it with `Last-Event-ID` and miss nothing.
 */
import http from "node:http"
import { afterEach, beforeEach, expect, test } from "vitest"
import { startTestServer, type TestServer } from "../harness.ts"

interface SseEvent {
  id?: string
  data: any
}

/** Reads `/event` over a plain socket until `until` holds, then destroys the socket (a drop). */
function readEvents(
  url: string,
  until: (events: SseEvent[]) => boolean,
  headers: Record<string, string> = {},
): Promise<SseEvent[]> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = []
    const timer = setTimeout(() => {
      req.destroy()
      reject(new Error(`timed out; got ${JSON.stringify(events)}`))
    }, 10_000)
    const req = http.get({ hostname, port, path: "/event", headers }, (res) => {
      let buffer = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const id = /^id: ?(.*)$/m.exec(block)?.[1]
          const data = /^data: ?(.*)$/m.exec(block)?.[1]
          if (data) events.push({ ...(id !== undefined ? { id } : {}), data: JSON.parse(data) })
          if (until(events)) {
            clearTimeout(timer)
            res.destroy()
            req.destroy()
            return resolve(events)
          }
        }
      })
    })
    req.on("error", (error) => {
      if (!req.destroyed) reject(error)
    })
  })
}

let server: TestServer
beforeEach(async () => {
  server = await startTestServer()
})
afterEach(async () => {
  await server.close()
})

test("server.connected has a BOOTID:SEQ id; resuming from it delivers an event published after the drop", async () => {
  const boot = (await server.call("GET", "/health")).body.bootId as string
  const [connected] = await readEvents(server.url, (events) => events.length >= 1)
  expect(connected!.data.type).toBe("server.connected")
  expect(connected!.id).toMatch(new RegExp(`^${boot}:\\d+$`))

  // Dropped before any other event; something happens while the client is away.
  const dir = server.project()
  const reload = await server.call("POST", "/instance/reload", { directory: dir })
  expect(reload.status).toBe(200)
  const lifecycleId = reload.headers.get("x-opencode-lifecycle-id")

  const resumed = await readEvents(
    server.url,
    (events) => events.some((e) => e.data.type === "lifecycle.action.finished"),
    { "last-event-id": connected!.id! },
  )
  expect(resumed[0]!.data.type).toBe("server.connected")
  expect(resumed.some((e) => e.data.type === "server.replay_gap")).toBe(false)
  const finished = resumed.find((e) => e.data.type === "lifecycle.action.finished")!
  expect(finished.data.properties.action.lifecycleId).toBe(lifecycleId)
  for (const event of resumed) expect(event.id).toMatch(new RegExp(`^${boot}:\\d+$`))
})

test("a resuming client that drops right after server.connected still gets the replay on the next reconnect", async () => {
  const [first] = await readEvents(server.url, (events) => events.length >= 1)
  const dir = server.project()
  await server.call("POST", "/instance/reload", { directory: dir })

  // Resumes, but drops after server.connected, before the replayed events.
  const [connected] = await readEvents(server.url, (events) => events.length >= 1, { "last-event-id": first!.id! })
  expect(connected!.data.type).toBe("server.connected")
  const again = await readEvents(
    server.url,
    (events) => events.some((e) => e.data.type === "lifecycle.action.finished"),
    { "last-event-id": connected!.id! },
  )
  expect(again.find((e) => e.data.type === "lifecycle.action.finished")!.data.properties.action.operation).toBe(
    "reload",
  )
})

test("a client told of a replay gap that drops right after server.connected is told again", async () => {
  const [connected] = await readEvents(server.url, (events) => events.length >= 1, { "last-event-id": "boot_other:5" })
  expect(connected!.data.type).toBe("server.connected")
  expect(connected!.id).toBeDefined()
  const again = await readEvents(server.url, (events) => events.length >= 2, { "last-event-id": connected!.id! })
  expect(again[1]!.data).toMatchObject({ type: "server.replay_gap", properties: { reason: "restart" } })
  expect(again[1]!.id).toBeDefined()
})
