/**
 * Storage faults as a client sees them. A read-only data dir with a history: the server opens
 * that history read-only and says so (`storage_read_only`), lists it, and refuses writes with a
 * 503 naming the degraded state. A full disk: `POST /session/:id/message` is a 503 naming
 * `storage_full`, never a 500. (Root is not stopped by chmod, so these use real mounts.)
 */
import { execFileSync } from "node:child_process"
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs"
import path from "node:path"
import { afterAll, afterEach, describe, expect, test } from "vitest"
import { finishedRun, startApp, tempDir, type TestServer } from "../harness.ts"

const open: TestServer[] = []
const mounts: string[] = []
afterEach(async () => {
  for (const server of open.splice(0)) await server.close()
})
afterAll(() => {
  for (const dir of mounts.splice(0)) {
    try {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" })
    } catch {
      // already gone
    }
  }
})

async function server(options: Parameters<typeof startApp>[0] = {}): Promise<TestServer> {
  const s = await startApp(options)
  open.push(s)
  return s
}

function canMount(): boolean {
  const probe = tempDir("oc-mount-probe-")
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" })
    execFileSync("umount", [probe], { stdio: "ignore" })
    return true
  } catch {
    return false
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}
const MOUNT = process.platform === "linux" && process.getuid?.() === 0 && canMount()

describe.skipIf(!MOUNT)("a read-only data dir with a history (read-only bind mount)", () => {
  test("the history is opened read-only and listed, /health says storage_read_only, writes are 503 with the degraded state", async () => {
    const dataDir = tempDir("oc-ro-history-")
    // An earlier server leaves a session with a finished run.
    const first = await startApp({ dataDir, tickMs: 5 })
    const project = first.project()
    const session = await first.call("POST", "/session", { directory: project, body: { title: "kept" } })
    const prompt = await first.call("POST", `/session/${session.body.id}/prompt`, {
      directory: project,
      body: { text: "go", model: "scripted/quick" },
    })
    await finishedRun(first, session.body.id, prompt.body.runId)
    await first.running.shutdown("api")
    execFileSync("mount", ["--bind", dataDir, dataDir])
    mounts.push(dataDir)
    execFileSync("mount", ["-o", "remount,ro,bind", dataDir])
    expect(() => writeFileSync(path.join(dataDir, "probe"), "x")).toThrow(/EROFS|read-only/i)

    const s = await server({ tickMs: 5, dataDir })
    const health = await s.call("GET", "/health")
    expect(health.status).toBe(200)
    expect(health.body.degraded).toContain("storage_read_only")
    expect(health.body.degraded).not.toContain("storage_unavailable")
    const listed = await s.call("GET", "/session", { directory: project })
    expect(listed.status).toBe(200)
    expect(listed.body.map((info: any) => info.id)).toEqual([session.body.id])
    const messages = await s.call("GET", `/session/${session.body.id}/message`)
    expect(messages.body.some((m: any) => m.info.role === "assistant")).toBe(true)
    const runs = await s.call("GET", `/session/${session.body.id}/run`)
    expect(runs.body[0].summary.classification).toBe("completed")
    expect((await s.call("GET", `/session/${session.body.id}/export`)).status).toBe(200)

    for (const [method, route, body] of [
      ["POST", "/session", {}],
      ["POST", `/session/${session.body.id}/prompt`, { text: "again", model: "scripted/quick" }],
      ["POST", `/session/${session.body.id}/message`, { text: "again", model: "scripted/quick" }],
    ] as const) {
      const refused = await s.call(method, route, { directory: project, body })
      expect([route, refused.status]).toEqual([route, 503])
      expect(refused.body.error.code).toBe("storage_unavailable")
      expect(refused.body.error.degraded).toContain("storage_read_only")
    }
    await s.close()
    open.splice(open.indexOf(s), 1)
    await first.close()
  })

  test("a read-only data dir without a database still starts, in memory, and says storage_unavailable", async () => {
    const dataDir = tempDir("oc-ro-empty-")
    execFileSync("mount", ["--bind", dataDir, dataDir])
    mounts.push(dataDir)
    execFileSync("mount", ["-o", "remount,ro,bind", dataDir])
    const s = await server({ tickMs: 5, dataDir })
    const health = await s.call("GET", "/health")
    expect(health.body.degraded).toEqual(expect.arrayContaining(["storage_unavailable", "storage_read_only"]))
    expect((await s.call("POST", "/session", { directory: s.project(), body: {} })).status).toBe(200)
  })
})

describe.skipIf(!MOUNT)("a full disk (tmpfs)", () => {
  test("POST /session/:id/message is a 503 naming storage_full, not a 500", async () => {
    const mount = tempDir("oc-full-msg-")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mount])
    mounts.push(mount)
    const dataDir = path.join(mount, "data")
    mkdirSync(dataDir)
    const s = await server({ tickMs: 5, dataDir })
    const dir = s.project()
    const session = await s.call("POST", "/session", { directory: dir, body: {} })
    expect(session.status).toBe(200)
    const filler = path.join(mount, "filler")
    const fd = openSync(filler, "w")
    const block = Buffer.alloc(64 * 1024, 1)
    try {
      for (let size = block.length; size >= 1;) {
        try {
          writeSync(fd, block, 0, size)
        } catch {
          size = Math.floor(size / 2)
        }
      }
    } finally {
      closeSync(fd)
    }
    const res = await s.call("POST", `/session/${session.body.id}/message`, {
      directory: dir,
      body: { text: "go", model: "scripted/quick" },
    })
    expect(res.status).toBe(503)
    expect(res.body.error.code).toBe("storage_unavailable")
    expect(res.body.error.degraded).toContain("storage_full")
    rmSync(filler)
  })
})
