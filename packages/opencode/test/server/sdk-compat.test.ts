/**
 * opencode's published SDK drives the session flows unmodified (docs/protocol.md, "Compatibility with opencode's clients").
 * A plain SDK client is a plain client: the renderer hop is not applicable to its closes.
 */
import { createOpencodeClient, createOpencodeServer } from "@opencode-ai/sdk"
import { symlinkSync } from "node:fs"
import path from "node:path"
import { afterEach, beforeEach, expect, test } from "vitest"
import { BIN, finishedRun, incidentOf, startTestServer, tempDir, waitFor, type TestServer } from "../harness.ts"

let server: TestServer
beforeEach(async () => {
  server = await startTestServer({ tickMs: 20 })
})
afterEach(async () => {
  await server.close()
})

test("create, prompt (sync and async), list messages, abort, dispose through @opencode-ai/sdk", async () => {
  // A directory with a space and a percent sign: the SDK percent-encodes the header and uses ?directory= on GETs.
  const dir = server.project()
  const { mkdirSync } = await import("node:fs")
  const odd = `${dir}/my 100% project`
  mkdirSync(odd)
  const client = createOpencodeClient({ baseUrl: server.url, directory: odd })

  const created = await client.session.create({ body: { title: "sdk session" } })
  expect(created.error).toBeUndefined()
  const session = created.data!
  expect(session).toMatchObject({ title: "sdk session", directory: odd, version: expect.any(String) })
  expect(session.time.created).toBeTypeOf("number")

  const listed = await client.session.list()
  expect(listed.data!.map((s) => s.id)).toContain(session.id)

  const answer = await client.session.prompt({
    path: { id: session.id },
    body: { parts: [{ type: "text", text: "hi" }], model: { providerID: "scripted", modelID: "quick" } },
  })
  expect(answer.error).toBeUndefined()
  const parts = (answer.data as any).parts as any[]
  expect(parts.map((p) => p.text).join("")).toBe("Hello from scripted/quick.")

  const messages = await client.session.messages({ path: { id: session.id } })
  expect(messages.data!.map((m) => m.info.role)).toEqual(["user", "assistant"])

  const started = await client.session.promptAsync({
    path: { id: session.id },
    body: { parts: [{ type: "text", text: "go slow" }], model: { providerID: "scripted", modelID: "slow" } },
  })
  expect(started.response.status).toBe(204)
  await waitFor(async () =>
    ((await server.call("GET", `/session/${session.id}/run`)).body as any[]).some((r) => r.status === "running"),
  )
  const aborted = await client.session.abort({ path: { id: session.id } })
  expect(aborted.data).toBe(true)
  const runs = (await server.call("GET", `/session/${session.id}/run`)).body as any[]
  const slow = runs.at(-1)
  const summary = await finishedRun(server, session.id, slow.runId)
  expect(summary.classification).toBe("user_cancelled")

  // A dispose from the SDK: a plain client, renderer hop not applicable, diagnosed.
  await client.session.promptAsync({
    path: { id: session.id },
    body: { parts: [{ type: "text", text: "again" }], model: { providerID: "scripted", modelID: "slow" } },
  })
  await waitFor(async () =>
    ((await server.call("GET", `/session/${session.id}/run`)).body as any[]).some((r) => r.status === "running"),
  )
  const runId = ((await server.call("GET", `/session/${session.id}/run`)).body as any[]).at(-1).runId
  const disposed = await client.instance.dispose()
  expect(disposed.data).toBe(true)
  await finishedRun(server, session.id, runId)
  const chain = await incidentOf(server, session.id, runId)
  expect(chain.classification).toBe("local_instance_dispose")
  expect(chain.verdict).toBe("diagnosed")
  expect(chain.links.find((l: any) => l.hop === "renderer").status).toBe("not_applicable")
})

test("the SDK's event stream delivers opencode's session events", async () => {
  const dir = server.project()
  const client = createOpencodeClient({ baseUrl: server.url, directory: dir })
  const events = await client.event.subscribe()
  const seen: string[] = []
  const session = (await client.session.create({ body: {} })).data!
  let connected!: () => void
  const subscribed = new Promise<void>((resolve) => (connected = resolve))
  const reading = (async () => {
    for await (const event of events.stream as AsyncIterable<any>) {
      seen.push(event.type)
      if (event.type === "server.connected") connected()
      if (event.type === "session.idle") break
    }
  })()
  // The stream is read lazily: a prompt sent before it is connected would start its run unseen.
  await subscribed
  await client.session.promptAsync({
    path: { id: session.id },
    body: { parts: [{ type: "text", text: "hi" }], model: { providerID: "scripted", modelID: "quick" } },
  })
  await reading
  expect(seen[0]).toBe("server.connected")
  for (const type of [
    "session.status",
    "message.updated",
    "message.part.updated",
    "run.started",
    "run.finished",
    "session.idle",
  ])
    expect(seen).toContain(type)
})

test("the SDK's createOpencodeServer launches our `opencode` from PATH", async () => {
  const bin = tempDir("oc-bin-")
  symlinkSync(BIN, path.join(bin, "opencode"))
  const saved = { PATH: process.env.PATH, OPENCODE_DATA_DIR: process.env.OPENCODE_DATA_DIR }
  process.env.PATH = `${bin}${path.delimiter}${process.env.PATH}`
  process.env.OPENCODE_DATA_DIR = tempDir("oc-data-")
  try {
    const launched = await createOpencodeServer({ port: 0, timeout: 20_000, config: { logLevel: "INFO" } as never })
    try {
      const health = await fetch(`${launched.url}/global/health`)
      expect(await health.json()).toEqual({ healthy: true, version: "0.1.0" })
    } finally {
      launched.close()
    }
  } finally {
    process.env.PATH = saved.PATH
    if (saved.OPENCODE_DATA_DIR === undefined) delete process.env.OPENCODE_DATA_DIR
    else process.env.OPENCODE_DATA_DIR = saved.OPENCODE_DATA_DIR
  }
})
