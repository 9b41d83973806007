/**
 * Hostile input. The export reader and `explain` take files from anywhere: whatever they are
 * given, they answer `{ ok: false, error: <one sentence> }` or a labelled result, never throw,
 * and never touch `Object.prototype`. The server refuses oversized bodies with 413, never trusts
 * malformed provenance headers (they are dropped and recorded as invalid, and never change a
 * classification), and refuses path traversal in tool paths and directory parameters with a
 * clear error.
 */
import { existsSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { explainText } from "../../src/provenance/explain.ts"
import { readExport, type ReadResult } from "../../src/provenance/export-reader.ts"
import { resolveInsideProject } from "../../src/tool/project-path.ts"
import { builtinTools } from "../../src/tool/registry.ts"
import { finishedRun, incidentOf, startRun, startTestServer, type TestServer } from "../harness.ts"

const FORMATS = ["v2", "v1-messages", "v1-diagnostics", "upstream-opencode"]
const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"]
const SHAPE_KEYS = [
  "schema",
  "version",
  "session",
  "messages",
  "diagnostics",
  "runs",
  "lifecycle",
  "requests",
  "incidents",
  "info",
  "origin",
  "classification",
  "runId",
  "verdict",
  "missing",
  "links",
  "retry",
  "interrupt",
  "writer",
  "truncated",
]

function prototypeSnapshot(): string {
  return JSON.stringify([
    Object.getOwnPropertyNames(Object.prototype).sort(),
    Object.getOwnPropertyNames(Array.prototype).sort(),
  ])
}
const PROTOTYPE = prototypeSnapshot()

/** The reader's contract for one input: never a throw; a one-sentence error or a labelled result; explain never throws. */
function checkReader(input: unknown): ReadResult {
  let result: ReadResult
  expect(() => (result = readExport(input))).not.toThrow()
  result = result!
  if (!result.ok) {
    expect(typeof result.error).toBe("string")
    expect(result.error.length).toBeGreaterThan(0)
    expect(result.error.length).toBeLessThan(400)
    expect(result.error).not.toMatch(/[\r\n]/)
    expect(result.error).toMatch(/[.!]$/)
  } else {
    expect(FORMATS).toContain(result.format)
    expect(Array.isArray(result.incidents)).toBe(true)
    expect(Array.isArray(result.warnings)).toBe(true)
  }
  let text = ""
  expect(() => (text = explainText(result))).not.toThrow()
  expect(typeof text).toBe("string")
  expect(text.length).toBeLessThan(2_000_000)
  expect(prototypeSnapshot()).toBe(PROTOTYPE)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  return result
}

const key = fc.oneof(fc.constantFrom(...PROTO_KEYS, ...SHAPE_KEYS), fc.string({ maxLength: 12 }))
const leaf = fc.oneof(
  fc.constantFrom(
    "opencode.session-export",
    "run_x",
    "ses_x",
    "local_instance_reload",
    "diagnosed",
    "api_route",
    "unknown",
    1,
    2,
    3,
    99,
    -1,
    1.5,
    NaN,
    Infinity,
    null,
    true,
    "",
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
)
const hostileValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(key, tie("value"), { maxKeys: 6 }),
})).value

/** Export-shaped documents with wrong types, pollution keys and random fields where the reader looks. */
const exportLike = fc.record(
  {
    schema: fc.oneof(fc.constant("opencode.session-export"), leaf),
    version: fc.oneof(fc.constantFrom(1, 2, 3), leaf),
    session: hostileValue,
    messages: fc.oneof(fc.array(hostileValue, { maxLength: 4 }), hostileValue),
    diagnostics: fc.oneof(
      fc.record(
        {
          runs: fc.array(hostileValue, { maxLength: 4 }),
          lifecycle: fc.array(hostileValue, { maxLength: 3 }),
          requests: hostileValue,
          truncated: hostileValue,
        },
        { requiredKeys: [] },
      ),
      hostileValue,
    ),
    incidents: fc.oneof(fc.array(hostileValue, { maxLength: 4 }), hostileValue),
    info: hostileValue,
  },
  { requiredKeys: [] },
)

describe("readExport and explainText against arbitrary input (fast-check)", () => {
  it("arbitrary JSON values, as values and as text: never a throw", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        checkReader(value)
        checkReader(JSON.stringify(value) ?? "")
      }),
      { numRuns: 300 },
    )
  })

  it("export-shaped documents with wrong types and prototype-pollution keys: never a throw, never a polluted prototype", () => {
    fc.assert(
      fc.property(exportLike, (doc) => {
        checkReader(doc)
        // Through JSON text, "__proto__" becomes an own key: the form a hostile file really takes.
        const text = JSON.stringify(doc).replace(/"toString"|"valueOf"/g, '"__proto__"')
        checkReader(text)
      }),
      { numRuns: 300 },
    )
  })

  it("prototype-pollution payloads in every place the reader looks", () => {
    const payload = '{"polluted": "yes", "toString": 1, "hasOwnProperty": 2}'
    const docs = [
      `{"__proto__": ${payload}}`,
      `{"schema": "opencode.session-export", "version": 2, "__proto__": ${payload}, "diagnostics": {"__proto__": ${payload}, "runs": [{"__proto__": ${payload}, "runId": "run_x"}]}}`,
      `{"schema": "opencode.session-export", "version": 2, "constructor": {"prototype": ${payload}}, "incidents": [{"constructor": {"prototype": ${payload}}}]}`,
      `{"version": 1, "session": {"__proto__": ${payload}}, "messages": [], "diagnostics": {"runs": [{"runId": "run_1", "classification": "local_instance_reload", "__proto__": ${payload}}]}}`,
      `{"info": {"__proto__": ${payload}}, "messages": [{"info": {"__proto__": ${payload}}, "parts": []}]}`,
    ]
    for (const doc of docs) checkReader(doc)
  })

  it("10,000 levels of nesting, as text and as a value, anywhere in the document", () => {
    const deepText = (inner: string) => `${"[".repeat(10_000)}${inner}${"]".repeat(10_000)}`
    checkReader(deepText("1"))
    checkReader(`{"schema":"opencode.session-export","version":2,"diagnostics":{"runs":${deepText("{}")}}}`)
    checkReader(
      `{"version":1,"messages":[],"diagnostics":{"runs":[{"runId":"run_1","classification":"local_instance_reload","watchdog":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}]}}`,
    )
    let deep: unknown = { runId: "run_1" }
    for (let i = 0; i < 10_000; i++) deep = { origin: deep, runs: [deep] }
    checkReader({
      schema: "opencode.session-export",
      version: 2,
      diagnostics: { runs: [deep], lifecycle: [deep] },
      incidents: [deep],
    })
    // A cycle, which no JSON file can hold but a caller's object can.
    const cyclic: Record<string, unknown> = { schema: "opencode.session-export", version: 2 }
    cyclic.diagnostics = { runs: [cyclic], lifecycle: [cyclic] }
    cyclic.incidents = [cyclic]
    checkReader(cyclic)
  })

  it("huge strings and huge lists: bounded, labelled output", () => {
    const huge = "A".repeat(5 * 1024 * 1024)
    const result = checkReader({
      schema: "opencode.session-export",
      version: 2,
      session: { id: huge, directory: { digest: huge, depth: 1e308 } },
      writer: { name: huge, version: huge },
      messages: [],
      diagnostics: {
        runs: [{ runId: huge, classification: huge }],
        lifecycle: [],
        requests: [],
        renderer: [],
        crashes: [],
        truncated: {},
      },
      incidents: [{ runId: huge, verdict: huge, classification: huge }],
    })
    if (result.ok) expect(explainText(result).length).toBeLessThan(100_000)
    checkReader(huge)
    checkReader(`"${huge}"`)
    checkReader({
      version: 1,
      messages: Array.from({ length: 50_000 }, () => ({})),
      diagnostics: { runs: Array.from({ length: 50_000 }, (_, i) => ({ runId: `run_${i}` })) },
    })
  })

  it("throwing getters and proxies: a one-sentence failure, not a crash", () => {
    const trap = new Proxy(
      {},
      {
        get: () => {
          throw new Error("boom")
        },
        ownKeys: () => {
          throw new Error("boom")
        },
      },
    )
    checkReader(trap)
    checkReader({
      schema: "opencode.session-export",
      version: 2,
      get diagnostics() {
        throw new Error("getter")
      },
    })
  })
})

// ---------------------------------------------------------------------------------------------

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ tickMs: 50 })
})
afterAll(async () => {
  await server.close()
})

/** One request over a raw socket, so headers can hold what fetch refuses to send. */
async function raw(url: string, head: string, body = ""): Promise<{ status: number; headers: string; text: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    let data = Buffer.alloc(0)
    socket.on("data", (chunk) => (data = Buffer.concat([data, chunk])))
    // The server may answer and close before the whole body is sent (a 413): keep what it said.
    socket.on("error", () => {})
    socket.on("close", () => {
      const text = data.toString("latin1")
      const [headers = "", rest = ""] = text.split("\r\n\r\n", 2)
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), headers, text: rest })
    })
    socket.write(
      Buffer.concat([
        Buffer.from(head.replace(/\n/g, "\r\n") + "\r\nconnection: close\r\n\r\n", "latin1"),
        Buffer.from(body),
      ]),
    )
  })
}

describe("oversized bodies", () => {
  it("are refused with 413 before any route reads them: with a Content-Length, and chunked without one", async () => {
    const session = await server.call("POST", "/session", { directory: server.project(), body: {} })
    const big = JSON.stringify({ text: "x".repeat(2 * 1024 * 1024) })
    for (const route of [`/session/${session.body.id}/prompt`, "/diagnostics/renderer", "/session", "/config"]) {
      // Over a raw socket: the server may answer and close before the whole body is sent, which fetch reports as a failure.
      const res = await raw(
        server.url,
        `${route === "/config" ? "PATCH" : "POST"} ${route} HTTP/1.1\nhost: 127.0.0.1\ncontent-type: application/json\ncontent-length: ${Buffer.byteLength(big)}`,
        big,
      )
      expect(res.status, route).toBe(413)
      expect(res.text).toContain("body_too_large")
    }
    const chunk = "x".repeat(64 * 1024)
    const chunkedBody = `${Array.from({ length: 40 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("")}0\r\n\r\n`
    const chunked = await raw(
      server.url,
      "POST /diagnostics/renderer HTTP/1.1\nhost: 127.0.0.1\ncontent-type: application/json\ntransfer-encoding: chunked",
      chunkedBody,
    )
    expect(chunked.status).toBe(413)
    expect(chunked.text).toContain("body_too_large")
    // A body just under the limit is read, and answered by the route.
    const under = await server.call("POST", "/diagnostics/renderer", {
      body: { actions: [], pad: "x".repeat(1000 * 1024) },
    })
    expect(under.status).toBe(200)
  })
})

describe("hostile provenance headers", () => {
  function requestRecord(requestId: string): any {
    return server.running.host.journal
      .rows({ kinds: ["request"] })
      .find((row) => (row.data as any).requestId === requestId)?.data
  }

  const hostileIds = [
    "act_ok'; DROP TABLE journal; --",
    "act_" + "a".repeat(65),
    "act_ünïcødé",
    "act_ab\tcd",
    "' OR 1=1 --",
    "act_",
    "act_x/../../etc",
    "act_<script>alert(1)</script>",
  ]

  it.each(hostileIds)("action id %j is dropped and recorded as invalid; the request is served", async (id) => {
    const dir = server.project()
    const { db } = server.running.host
    const journalRows = () => (db.prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n
    const rowsBefore = journalRows()
    const res = await raw(
      server.url,
      `POST /instance/reload HTTP/1.1\nhost: 127.0.0.1\nx-opencode-directory: ${encodeURIComponent(dir)}\nx-opencode-client: app/0.1.0\nx-opencode-action-name: instance.reload\nx-opencode-action-id: ${Buffer.from(id, "utf8").toString("latin1")}\ncontent-length: 0`,
    )
    expect(res.status).toBe(200)
    const requestId = /x-opencode-request-id: (\S+)/i.exec(res.headers)?.[1]
    expect(requestId).toMatch(/^req_/)
    const record = requestRecord(requestId!)
    expect(record.actionHeader).toBe("invalid")
    expect(record.actionId).toBeUndefined()
    expect(JSON.stringify(record)).not.toContain("DROP TABLE")
    // The journal table is intact: it kept its rows and took this request's, read back from the database itself.
    expect(journalRows()).toBeGreaterThan(rowsBefore)
    expect(
      db.prepare("SELECT count(*) AS n FROM journal WHERE kind = 'request' AND data LIKE ?").get(`%"${requestId}"%`),
    ).toEqual({ n: 1 })
  })

  it("a CRLF in a header value cannot smuggle a second header or response: it is refused or split, never trusted", async () => {
    const res = await raw(
      server.url,
      `GET /health HTTP/1.1\nhost: 127.0.0.1\nx-opencode-action-id: act_a\rx-injected: 1`,
    )
    expect([200, 400]).toContain(res.status)
    expect(res.headers).not.toMatch(/x-injected/i)
  })

  it("spoofed client, action ids and garbage traceparent never change a run's classification or retry verdict", async () => {
    const plain = server.project()
    const spoofed = server.project()
    const a = await startRun(server, plain, "scripted/slow")
    const b = await startRun(server, spoofed, "scripted/slow")
    const r1 = await server.call("POST", "/instance/reload", { directory: plain })
    const r2 = await server.call("POST", "/instance/reload", {
      directory: spoofed,
      headers: {
        "x-opencode-client": "app/<img src=x onerror=alert(1)>",
        "x-opencode-action-id": "act_" + "z".repeat(200),
        "x-opencode-action-name": "Instance.Reload; DROP",
        traceparent: "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-0000000000000000-01",
        "x-opencode-request-id": "req_attacker_chosen",
      },
    })
    expect(r1.status).toBe(200)
    expect(r2.status).toBe(200)
    expect(r2.headers.get("x-opencode-request-id")).not.toBe("req_attacker_chosen")
    const s1 = await finishedRun(server, a.sessionId, a.runId)
    const s2 = await finishedRun(server, b.sessionId, b.runId)
    expect(s2.classification).toBe(s1.classification)
    expect(s2.classification).toBe("local_instance_reload")
    expect(s2.retry).toEqual(s1.retry)
    const record = requestRecord(r2.headers.get("x-opencode-request-id")!)
    expect(record).toMatchObject({ clientKind: "app", actionHeader: "invalid" })
    expect(record.clientVersion).toBeUndefined()
    expect(record.traceparent).toBeUndefined()
    expect(JSON.stringify(record)).not.toMatch(/onerror|DROP|zzzz/)
    const chain = await incidentOf(server, b.sessionId, b.runId)
    expect(chain.classification).toBe("local_instance_reload")
    // An app client whose action id was dropped is a gap to show, never "diagnosed".
    expect(chain.verdict).not.toBe("diagnosed")
    expect(chain.missing.join(" ")).toMatch(/renderer/)
  })
})

describe("path traversal", () => {
  let project: string
  let outside: string
  beforeAll(() => {
    const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), "oc-trav-")))
    project = path.join(base, "project")
    outside = path.join(base, "outside")
    mkdirSync(project)
    mkdirSync(outside)
    writeFileSync(path.join(outside, "secret.txt"), "SECRET-CANARY")
    symlinkSync(outside, path.join(project, "escape"))
    symlinkSync(path.join(outside, "secret.txt"), path.join(project, "secret-link"))
    symlinkSync(path.join(outside, "not-yet"), path.join(project, "dangling"))
  })

  const escapes = [
    "../outside/secret.txt",
    "../../etc/passwd",
    "a/b/../../../outside/secret.txt",
    "/etc/passwd",
    "escape/secret.txt",
    "secret-link",
    "dangling",
    "escape/../escape/secret.txt",
    "ok\0.txt",
  ]

  it.each(escapes)("tool path %j is refused as outside the project", async (rel) => {
    await expect(resolveInsideProject(project, rel)).rejects.toMatchObject({ code: "path_outside_project" })
  })

  it("the read and write tools refuse every escape with a clear message and touch nothing outside", async () => {
    const tools = builtinTools()
    const read = tools.find((tool) => tool.name === "read")!
    const write = tools.find((tool) => tool.name === "write")!
    const signal = new AbortController().signal
    for (const rel of escapes) {
      const readError = await read.execute({ path: rel }, { directory: project, signal }).then(
        () => undefined,
        (err) => err,
      )
      expect(readError?.code, rel).toBe("path_outside_project")
      expect(readError.message).toMatch(/outside the project|NUL/)
      const writeError = await write.execute({ path: rel, content: "PWNED" }, { directory: project, signal }).then(
        () => undefined,
        (err) => err,
      )
      expect(writeError?.code, rel).toBe("path_outside_project")
    }
    expect(existsSync(path.join(outside, "not-yet"))).toBe(false)
    // Percent-encoding is not decoded in tool paths: "%2e%2e" is a literal file name inside the project.
    expect(await resolveInsideProject(project, "%2e%2e/%2e%2e/x")).toBe(path.join(project, "%2e%2e", "%2e%2e", "x"))
  })

  it("directory parameters: relative, encoded traversal, NUL, overlong, malformed encoding and missing paths are a 400 naming the reason", async () => {
    const cases: [string, RegExp][] = [
      ["../../etc", /absolute/],
      ["..%2F..%2Fetc", /absolute/],
      ["%2e%2e%2f%2e%2e%2fetc", /absolute/],
      ["/tmp/x%00y", /NUL/],
      [`/${"a".repeat(5000)}`, /longer than/],
      ["%zz", /percent-encoding/],
      [`${encodeURIComponent(project)}%2F..%2F..%2Fno-such-dir-xyz`, /does not exist/],
      [encodeURIComponent(path.join(outside, "secret.txt")), /not a directory/],
    ]
    for (const [header, message] of cases) {
      const res = await fetch(server.url + "/session", { headers: { "x-opencode-directory": header } })
      expect(res.status, header.slice(0, 40)).toBe(400)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe("invalid_directory")
      expect(body.error.message, header.slice(0, 40)).toMatch(message)
      expect(body.error.message.length).toBeLessThan(300)
      // And the same through ?directory= (already decoded once by the URL parser).
      const viaQuery = await fetch(`${server.url}/session?directory=${header}`)
      expect([400]).toContain(viaQuery.status)
    }
    // A `..`-laden absolute path names the directory it resolves to: keyed once, never a second instance.
    const viaDots = await server.call("POST", "/session", { directory: `${project}/../project/./` })
    const direct = await server.call("POST", "/session", { directory: project })
    expect(viaDots.status).toBe(200)
    expect(viaDots.body.projectID).toBe(direct.body.projectID)
    // Percent-encoding is decoded first: encoded `..` in an absolute path is normalised the same way.
    const encoded = await fetch(server.url + "/session", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-opencode-directory": encodeURIComponent(`${project}/../project`).replaceAll(".", "%2e"),
      },
      body: "{}",
    })
    expect(encoded.status).toBe(200)
    expect(((await encoded.json()) as { projectID: string }).projectID).toBe(direct.body.projectID)
    expect(
      server.running.host.instances.list().filter((instance) => instance.directory.endsWith("/project")),
    ).toHaveLength(1)
  })
})
