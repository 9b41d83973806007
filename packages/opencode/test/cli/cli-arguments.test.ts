/**
 * Arguments `opencode export` and `opencode explain` refuse (exit 2, one sentence, nothing
 * written): a second session or file, no session, an empty `--out`, and an `--out` inside the data
 * dir, which used to replace the data dir's own database with the export and exit 0.
 */
import { spawnSync } from "node:child_process"
import { readFileSync, symlinkSync, writeFileSync } from "node:fs"
import path from "node:path"
import { expect, test } from "vitest"
import { BIN, finishedRun, startApp, startRun, tempDir } from "../harness.ts"

const cli = (...args: string[]) => {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 })
  return { code: run.status, stdout: run.stdout, stderr: run.stderr }
}

test("export --out inside the data dir is refused, and the database is left whole", async () => {
  const dataDir = tempDir("oc-cli-args-data-")
  const server = await startApp({ dataDir })
  const { sessionId, runId } = await startRun(server, server.project())
  await finishedRun(server, sessionId, runId)
  await server.close()
  const db = path.join(dataDir, "opencode.db")
  const before = readFileSync(db)
  // The database itself, a new file beside it, and the database through a link to the data dir.
  const link = path.join(tempDir("oc-cli-args-link-"), "data")
  symlinkSync(dataDir, link)
  for (const out of [db, path.join(dataDir, "export.json"), path.join(link, "opencode.db")]) {
    const refused = cli("export", sessionId, "--data-dir", dataDir, "--out", out)
    expect(refused.code, out).toBe(2)
    expect(refused.stderr).toMatch(/^opencode export: --out is inside the data dir/)
  }
  expect(readFileSync(db).equals(before)).toBe(true)
  const again = cli("export", sessionId, "--data-dir", dataDir, "--diagnostics-only")
  expect(again.code).toBe(0)
  expect(JSON.parse(again.stdout).session.id).toBe(sessionId)
})

test("a second session or file, no session and an empty --out exit 2 with one sentence", () => {
  const dir = tempDir("oc-cli-args-")
  const file = path.join(dir, "a.json")
  writeFileSync(file, JSON.stringify({ version: 1, messages: [] }))
  const cases = [
    { args: ["explain", file, path.join(dir, "b.json")], says: /^opencode explain: one file at a time; 2 were named/ },
    { args: ["export"], says: /^opencode export: name the session/ },
    { args: ["export", "ses_a", "ses_b"], says: /^opencode export: one session at a time; 2 were named/ },
    { args: ["export", "ses_a", "--out="], says: /^opencode export: --out needs a file name/ },
  ]
  for (const { args, says } of cases) {
    const result = cli(...args)
    expect(result.code, args.join(" ")).toBe(2)
    expect(result.stderr).toMatch(says)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stdout).toBe("")
  }
})
