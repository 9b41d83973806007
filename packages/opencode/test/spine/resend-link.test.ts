/**
 * A resend names the run it replaces (`resendOf` on the prompt): the server keeps it on the new
 * run, the run list and the export carry it, the stopped run's incident says what its resend
 * became (`resentAs`), and `explain` prints both. A resendOf that names no run of the session is a
 * 400 naming the field, never echoing it.
 */
import { afterEach, describe, expect, test } from "vitest"
import { explainText } from "../../src/provenance/explain.ts"
import { readExport } from "../../src/provenance/export-reader.ts"
import { finishedRun, incidentOf, startRun, startApp, type TestServer, waitFor } from "../harness.ts"

let server: TestServer
afterEach(async () => {
  await server.close()
})

async function runOf(sessionId: string, runId: string): Promise<any> {
  const runs = await server.call("GET", `/session/${sessionId}/run`)
  return (runs.body as any[]).find((run) => run.runId === runId)
}

describe("linked resends", () => {
  test("a resend of a reloaded run is linked both ways in the run list, the incidents, the export and explain", async () => {
    server = await startApp({ tickMs: 20 })
    const dir = server.project()
    const { sessionId, runId: first } = await startRun(server, dir)
    await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, sessionId, first)

    const resend = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "again", model: "scripted/quick", resendOf: first },
    })
    expect(resend.status).toBe(200)
    const second = resend.body.runId as string
    // Linked from the moment it starts, not only once it has a summary.
    expect((await runOf(sessionId, second)).resendOf).toBe(first)
    const summary = await finishedRun(server, sessionId, second)
    expect(summary.resendOf).toBe(first)
    expect((await runOf(sessionId, first)).resendOf).toBeUndefined()

    const incident = await incidentOf(server, sessionId, first)
    expect(incident.resentAs).toEqual({ runId: second, classification: "completed" })

    const exported = await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)
    const read = readExport(JSON.stringify(exported.body))
    expect(read.ok).toBe(true)
    if (!read.ok) return
    const chain = read.incidents.find((item) => item.runId === first)
    expect(chain?.resentAs).toEqual({ runId: second, classification: "completed" })
    const text = explainText(read)
    expect(text).toContain(`Resent as: run ${second}, which completed normally.`)
  })

  test("a resend stopped again says so on both runs, and the second incident names the run it resent", async () => {
    server = await startApp({ tickMs: 20 })
    const dir = server.project()
    const { sessionId, runId: first } = await startRun(server, dir)
    await server.call("POST", "/instance/reload", { directory: dir })
    await finishedRun(server, sessionId, first)
    const resend = await server.call("POST", `/session/${sessionId}/prompt`, {
      directory: dir,
      body: { text: "again", model: "scripted/slow", resendOf: first },
    })
    const second = resend.body.runId as string
    await waitFor(async () => (await runOf(sessionId, second))?.status === "running")
    await server.call("POST", "/instance/dispose", { directory: dir })
    await finishedRun(server, sessionId, second)

    const firstChain = await incidentOf(server, sessionId, first)
    expect(firstChain.resentAs).toEqual({ runId: second, classification: "local_instance_dispose" })
    const secondChain = await incidentOf(server, sessionId, second)
    expect(secondChain.resendOf).toBe(first)
    expect(secondChain.resentAs).toBeUndefined()

    const exported = await server.call("GET", `/session/${sessionId}/export?content=diagnostics`)
    const read = readExport(JSON.stringify(exported.body))
    if (!read.ok) throw new Error(read.error)
    const text = explainText(read)
    expect(text).toContain(`Resend of: run ${first}.`)
    expect(text).toContain(`Resent as: run ${second}, which was closed by a dispose of its instance.`)
  })

  test("resendOf must name a run of this session: 400 naming the field, the value never echoed", async () => {
    server = await startApp({ tickMs: 20 })
    const dir = server.project()
    const other = await startRun(server, dir, "scripted/quick", { waitForOutput: false })
    await finishedRun(server, other.sessionId, other.runId)
    const session = await server.call("POST", "/session", { directory: dir, body: {} })
    const id = session.body.id as string
    for (const resendOf of ["run_CANARYnotarun", other.runId, "../../etc/passwd"]) {
      const answer = await server.call("POST", `/session/${id}/prompt`, {
        directory: dir,
        body: { text: "x", model: "scripted/quick", resendOf },
      })
      expect(answer.status).toBe(400)
      expect(answer.body.error.message).toMatch(/^resendOf: /)
      expect(JSON.stringify(answer.body)).not.toContain(resendOf)
    }
    // Nothing was started by a refused prompt.
    expect((await server.call("GET", `/session/${id}/run`)).body).toEqual([])
  })
})
