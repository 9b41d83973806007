/** An export written while storage was degraded says so, and still parses with the published schema. */
import { afterEach, expect, test } from "vitest"
import { SessionExportDocument } from "../../src/provenance/index.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { readExport } from "../../src/provenance/index.ts"
import { startRun, finishedRun, startApp, type TestServer } from "../harness.ts"

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
})

test("diagnostics.degraded names the faults and the lost records; absent when healthy", async () => {
  server = await startApp()
  const dir = server.project()
  const { sessionId, runId } = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
  await finishedRun(server, sessionId, runId)
  const host = server.running.host
  const healthy = buildSessionExport(host, sessionId, "diagnostics")!
  expect(healthy.diagnostics.degraded).toBeUndefined()

  const degraded = buildSessionExport(
    { ...host, health: () => ({ degraded: ["storage_full"], journal: { lost: 3, backlog: 2 } }) },
    sessionId,
    "diagnostics",
  )!
  expect(degraded.diagnostics.degraded).toEqual({ faults: ["storage_full"], lostRecords: 3, backlog: 2 })
  expect(SessionExportDocument.safeParse(degraded).success).toBe(true)
  const read = readExport(JSON.parse(JSON.stringify(degraded)))
  expect(read.ok && read.unknownFields).toEqual([])
})
