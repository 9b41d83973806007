/**
 * The data dir holds prompts, answers and the run journal: what the server creates there is the
 * owner's alone (directories 0700, files 0600, whatever the umask allows beyond). A directory the
 * user made beforehand keeps the permissions they chose.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs"
import path from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import { startApp, tempDir, type TestServer } from "../harness.ts"

const open: TestServer[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const server of open.splice(0)) await server.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const mode = (file: string) => statSync(file).mode & 0o777

describe("permissions of what the server creates in the data dir", () => {
  test("a new data dir is 0700; the database, its WAL and SHM, the locks and config.json are 0600", async () => {
    const parent = tempDir("oc-perm-")
    dirs.push(parent)
    const dataDir = path.join(parent, "nested", "data")
    const previous = process.umask(0o022)
    let s: TestServer
    try {
      s = await startApp({ dataDir })
      open.push(s)
    } finally {
      process.umask(previous)
    }
    const project = s.project()
    expect((await s.call("POST", "/session", { directory: project, body: {} })).status).toBe(200)
    expect((await s.call("PATCH", "/global/config", { body: { note: "x" } })).status).toBe(200)

    expect(mode(dataDir)).toBe(0o700)
    expect(mode(path.join(parent, "nested"))).toBe(0o700)
    const files = readdirSync(dataDir)
    expect(files).toEqual(
      expect.arrayContaining([
        "opencode.db",
        "opencode.db-wal",
        "opencode.db-shm",
        "config.json",
        "server.lock",
        "boots",
      ]),
    )
    for (const file of files) {
      const full = path.join(dataDir, file)
      if (statSync(full).isDirectory()) {
        expect([file, mode(full)]).toEqual([file, 0o700])
        for (const inner of readdirSync(full)) expect([inner, mode(path.join(full, inner))]).toEqual([inner, 0o600])
      } else {
        expect([file, mode(full)]).toEqual([file, 0o600])
      }
    }
  })

  test("a data dir the user created keeps its permissions; the files inside are still 0600", async () => {
    const dataDir = tempDir("oc-perm-own-")
    dirs.push(dataDir)
    mkdirSync(dataDir, { recursive: true })
    const { chmodSync } = await import("node:fs")
    chmodSync(dataDir, 0o750)
    const s = await startApp({ dataDir })
    open.push(s)
    expect(mode(dataDir)).toBe(0o750)
    expect(mode(path.join(dataDir, "opencode.db"))).toBe(0o600)
  })
})
