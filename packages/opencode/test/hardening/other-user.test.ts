/**
 * Another account on the machine cannot use the server: a real second uid (`nobody`, through
 * `runuser`) against servers run by this one. Needs Linux, root and runuser; skipped with the
 * reason elsewhere, except that a CI run as root on Linux must have runuser.
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { existsSync, rmSync } from "node:fs"
import path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServer, type RunningServer } from "../../src/server/server.ts"
import { BIN, startTestServer, tempDir, waitFor, type TestServer } from "../harness.ts"

const run = promisify(execFile)
const RUNUSER = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"].find((file) =>
  existsSync(file),
)
const LINUX_ROOT = process.platform === "linux" && process.getuid?.() === 0
const SKIP_REASON =
  process.platform !== "linux"
    ? "needs Linux"
    : !LINUX_ROOT
      ? "needs root, to run a client as nobody"
      : !RUNUSER
        ? "needs runuser"
        : undefined

type Attempt = { url: string; init?: { method?: string; headers?: Record<string, string>; body?: string } }

/** Requests made one after another by the uid `nobody`, in one process of its own: each one's status and error code. */
async function asNobody(attempts: Attempt[]): Promise<{ status: number; code?: string }[]> {
  // The body of /event never ends: the status is all this reads of it.
  const script = `(async () => {
    const out = []
    for (const { url, init } of JSON.parse(process.argv[1])) {
      try {
        const r = await fetch(url, init)
        let code
        if (r.headers.get("content-type")?.includes("json")) code = (await r.json()).error?.code
        else await r.body?.cancel()
        out.push({ status: r.status, code })
      } catch (e) {
        out.push({ status: 0, code: String(e.cause?.code ?? e) })
      }
    }
    console.log(JSON.stringify(out))
    process.exit(0)
  })()`
  const { stdout } = await run(
    RUNUSER!,
    ["-u", "nobody", "--", process.execPath, "-e", script, JSON.stringify(attempts)],
    { cwd: "/", timeout: 20_000 },
  )
  return JSON.parse(stdout.trim().split("\n").pop()!)
}

it.runIf(SKIP_REASON !== undefined && LINUX_ROOT && !!process.env.CI)(
  "CI running as root on Linux has runuser for the second-uid tests",
  () => {
    expect.fail(`the second-uid tests cannot run: ${SKIP_REASON}`)
  },
)

describe.skipIf(SKIP_REASON !== undefined)(
  `another user on the machine (${SKIP_REASON ? `skipped: ${SKIP_REASON}` : "runuser -u nobody"})`,
  () => {
    let s: TestServer
    beforeAll(async () => {
      s = await startTestServer()
    })
    afterAll(async () => {
      await s?.close()
    })

    it("is refused on every route, /event included, before anything is read or written, and only counted", async () => {
      const victim = s.project()
      const configDir = path.join(victim, ".config", "opencode")
      const requestRows = () => {
        s.running.host.journal.flush()
        return s.running.host.journal.rows({ kinds: ["request"] }).length
      }
      const before = requestRows()
      const dir = { "x-opencode-directory": encodeURIComponent(victim), "content-type": "application/json" }
      const attempts: [string, Attempt["init"]][] = [
        ["/health", {}],
        ["/session", {}],
        ["/event", {}],
        ["/session", { method: "POST", headers: dir, body: "{}" }],
        ["/project/git/init", { method: "POST", headers: dir, body: "{}" }],
        [
          `/config?directory=${encodeURIComponent(configDir)}`,
          {
            method: "PATCH",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ mcp: { x: { command: ["touch", "/tmp/pwned"] } } }),
          },
        ],
        ["/", {}],
      ]
      const answers = await asNobody(attempts.map(([route, init]) => ({ url: s.url + route, init })))
      expect(answers.map((answer, i) => [attempts[i]![0], answer])).toEqual(
        attempts.map(([route]) => [route, { status: 403, code: "forbidden_user" }]),
      )
      expect(existsSync(path.join(configDir, "opencode.json"))).toBe(false)
      expect(existsSync(path.join(victim, ".git"))).toBe(false)
      expect(requestRows()).toBe(before)
      const health = await s.call("GET", "/health")
      expect(health.status).toBe(200)
      expect(health.body.refused.user).toBe(attempts.length)
      const sessions = await s.call("GET", "/session", { directory: victim })
      expect(sessions.body).toEqual([])
    }, 60_000)

    it("the same user gets in with nothing to set, over IPv4, IPv6 and v4-mapped IPv6; nobody does not", async () => {
      const servers: RunningServer[] = []
      const dataDirs: string[] = []
      try {
        for (const hostname of ["::1", "::"]) {
          const dataDir = tempDir("oc-data-")
          dataDirs.push(dataDir)
          servers.push(await startServer({ port: 0, hostname, dataDir, defaultDirectory: dataDir, env: {} }))
        }
        const port = (url: string) => new URL(url).port
        const urls = [
          s.url,
          servers[0]!.url,
          `http://127.0.0.1:${port(servers[1]!.url)}`,
          `http://[::1]:${port(servers[1]!.url)}`,
        ]
        // A child process of this uid, as the CLI or the SDK would be.
        const script =
          "Promise.all(JSON.parse(process.argv[1]).map((url) => fetch(url).then((r) => r.status))).then((s) => console.log(JSON.stringify(s)))"
        const { stdout } = await run(
          process.execPath,
          ["-e", script, JSON.stringify(urls.map((url) => `${url}/session`))],
          { timeout: 20_000 },
        )
        expect(JSON.parse(stdout)).toEqual(urls.map(() => 200))
        const answers = await asNobody(urls.map((url) => ({ url: `${url}/session` })))
        expect(answers.map((answer, i) => [urls[i], answer])).toEqual(
          urls.map((url) => [url, { status: 403, code: "forbidden_user" }]),
        )
      } finally {
        for (const server of servers) await server.shutdown("api").catch(() => {})
        for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
      }
    }, 60_000)

    it("is refused when it closes its socket right after sending (the kernel then names no owner, which must not read as root)", async () => {
      const victim = s.project()
      const counted = (await s.call("GET", "/health")).body.refused.user as number
      const { port } = new URL(s.url)
      const body = "{}"
      const request = `POST /session HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\nx-opencode-directory: ${encodeURIComponent(victim)}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`
      // Exits as soon as the request is written: the socket outlives its process, owned by no one.
      // Run synchronously, so this process (the server) reads the request only once the client is gone.
      const script =
        "const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => s.write(process.argv[2], () => process.exit(0)))"
      execFileSync(RUNUSER!, ["-u", "nobody", "--", process.execPath, "-e", script, port, request], {
        cwd: "/",
        timeout: 20_000,
      })
      // Either it was refused (counted) or it was served (a session exists): wait for one, then say which.
      const refusedNow = async () => (await s.call("GET", "/health")).body.refused.user as number
      const sessions = async () => (await s.call("GET", "/session", { directory: victim })).body as unknown[]
      await waitFor(async () => (await refusedNow()) > counted || (await sessions()).length > 0)
      expect(await sessions()).toEqual([])
      expect(await refusedNow()).toBe(counted + 1)
    }, 60_000)

    it("is refused even holding the token: the API with Authorization: Bearer, and POST /login", async () => {
      const token = "tok_" + "R".repeat(40)
      const guarded = await startTestServer({ token })
      try {
        const answers = await asNobody([
          { url: `${guarded.url}/session`, init: { headers: { authorization: `Bearer ${token}` } } },
          {
            url: `${guarded.url}/login`,
            init: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) },
          },
        ])
        expect(answers).toEqual([
          { status: 403, code: "forbidden_user" },
          { status: 403, code: "forbidden_user" },
        ])
        expect((await guarded.call("GET", "/session")).status).toBe(200)
      } finally {
        await guarded.close()
      }
    }, 60_000)

    it("`serve` says which mode it is in, and OPENCODE_ALLOW_OTHER_USERS=1 lets other users in", async () => {
      for (const [allow, expected] of [
        [undefined, { status: 403, code: "forbidden_user" }],
        ["1", { status: 200 }],
      ] as const) {
        const dataDir = tempDir("oc-data-")
        const proc = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", dataDir], {
          env: { ...process.env, OPENCODE_SERVER_TOKEN: "", OPENCODE_ALLOW_OTHER_USERS: allow ?? "" },
          stdio: ["ignore", "pipe", "pipe"],
        })
        try {
          let out = ""
          proc.stdout!.on("data", (chunk) => (out += chunk))
          await waitFor(() => /listening on .*\n.*\n/.test(out), 20_000)
          const [listening, mode] = out.split("\n")
          expect(mode).toMatch(
            allow
              ? /^OPENCODE_ALLOW_OTHER_USERS=1: any user on this machine can use this server/
              : /^only this user \(uid 0\) can use this server/,
          )
          const url = /listening on (\S+)/.exec(listening!)![1]!
          expect(await asNobody([{ url: `${url}/session` }])).toEqual([expected])
        } finally {
          proc.kill("SIGKILL")
          rmSync(dataDir, { recursive: true, force: true })
        }
      }
    }, 90_000)
  },
)

describe("OPENCODE_ALLOW_OTHER_USERS", () => {
  it("with a value other than 1 or 0, serve refuses to start, naming the variable without echoing the value", async () => {
    const dataDir = tempDir("oc-data-")
    try {
      const result = await run(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", dataDir], {
        env: { ...process.env, OPENCODE_ALLOW_OTHER_USERS: "yes-please" },
        timeout: 20_000,
      }).then(
        () => ({ code: 0, stderr: "" }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      )
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/^opencode serve: OPENCODE_ALLOW_OTHER_USERS must be 1 .* or 0 /)
      expect(result.stderr).not.toContain("yes-please")
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 30_000)
})
