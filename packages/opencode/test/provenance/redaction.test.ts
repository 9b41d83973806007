import { describe, expect, it } from "vitest"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { ErrorFact } from "../../src/provenance/schemas.ts"

const redactor = createRedactor("test-salt")

/** Planted secrets: each must be gone from the scrubbed text, replaced by its marker. */
const canaries = [
  {
    kind: "api_key",
    text: "provider said 401 for key sk-CANARYabcdefghijklmnop1234",
    secret: "CANARYabcdefghijklmnop1234",
  },
  { kind: "api_key", text: "OPENAI key sk-proj-CANARY_9f8e7d6c5b4a3210zyx", secret: "CANARY_9f8e7d6c5b4a3210zyx" },
  { kind: "github_token", text: "git push failed: ghp_CANARYabcdefghijklmnopqrstuv0123", secret: "ghp_CANARY" },
  { kind: "slack_token", text: "slack xoxb-1234567890-CANARYtoken", secret: "CANARYtoken" },
  { kind: "aws_key", text: "aws AKIACANARY0123456789 denied", secret: "AKIACANARY0123456789" },
  { kind: "bearer", text: "sent Bearer CANARYbearer.token-value_42", secret: "CANARYbearer" },
  { kind: "authorization", text: "Authorization: Basic Q0FOQVJZOnBhc3N3b3Jk", secret: "Q0FOQVJZOnBhc3N3b3Jk" },
  { kind: "password", text: "connect failed password=CANARYhunter2 retrying", secret: "CANARYhunter2" },
  { kind: "password", text: 'config {"password": "CANARY with spaces"}', secret: "CANARY with spaces" },
  { kind: "secret", text: "client_secret: CANARYsecretvalue", secret: "CANARYsecretvalue" },
  { kind: "api_key", text: "API_KEY='CANARYapikey'", secret: "CANARYapikey" },
  { kind: "cookie", text: "Cookie=session=CANARYcookie", secret: "CANARYcookie" },
  { kind: "credential", text: "aws_credentials=CANARYcred", secret: "CANARYcred" },
  {
    kind: "jwt",
    text: "token expired: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJlQ0FOQVJZ",
    secret: "eyJzdWIiOiJDQU5BUlkifQ",
  },
  {
    kind: "url_credentials",
    text: "fetch https://alice:CANARYpass@registry.example.com/pkg failed",
    secret: "CANARYpass",
  },
  {
    kind: "hex_token",
    text: "key 0123456789abcdef0123456789abcdefCAFEBABE rejected",
    secret: "0123456789abcdef0123456789abcdef",
  },
  {
    kind: "token",
    text: "x-api: Q0FOQVJZQ0FOQVJZQ0FOQVJZ0123456789abcdefXYZ",
    secret: "Q0FOQVJZQ0FOQVJZQ0FOQVJZ0123456789",
  },
  {
    kind: "private_key",
    text: "-----BEGIN RSA PRIVATE KEY-----\nMIIECANARY\n-----END RSA PRIVATE KEY-----",
    secret: "MIIECANARY",
  },
]

/** Text whose brackets are all whole markers (the inputs below have no other brackets). */
const WHOLE_MARKERS_ONLY = /^[^[\]]*(?:\[(?:redacted:[a-z_]+|path:[a-f0-9]{16})\][^[\]]*)*$/

describe("scrubText", () => {
  for (const { kind, text, secret } of canaries) {
    it(`removes a planted ${kind} and leaves a visible marker`, () => {
      const scrubbed = redactor.scrubText(text, 400)
      expect(scrubbed).not.toContain(secret)
      expect(scrubbed).toMatch(/\[redacted:[a-z_]+\]/)
    })
  }

  it("keeps the key name visible and marks the value with the key's kind", () => {
    expect(redactor.scrubText("login failed: password=hunter2")).toBe("login failed: password=[redacted:password]")
    expect(redactor.scrubText('{"apiKey": "abc"}')).toBe('{"apiKey": "[redacted:api_key]"}')
  })

  it("replaces absolute paths with a salted digest", () => {
    const scrubbed = redactor.scrubText("ENOENT: open '/home/alice/secret-project/src/index.ts'")
    expect(scrubbed).not.toContain("alice")
    expect(scrubbed).not.toContain("secret-project")
    expect(scrubbed).toBe(`ENOENT: open '[path:${redactor.digest("/home/alice/secret-project/src/index.ts")}]'`)
  })

  it("digests Windows, home-relative and file:// paths", () => {
    const scrubbed = redactor.scrubText(
      "at C:\\Users\\bob\\proj\\a.ts and ~/code/alice and file:///Users/carol/x.txt",
      400,
    )
    for (const name of ["bob", "alice", "carol"]) expect(scrubbed).not.toContain(name)
    expect(scrubbed.match(/\[path:[a-f0-9]{16}\]/g)).toHaveLength(3)
  })

  it("leaves routes after an HTTP method and single-segment paths readable", () => {
    expect(redactor.scrubText("POST /instance/reload returned 409 for /health")).toBe(
      "POST /instance/reload returned 409 for /health",
    )
  })

  it("keeps line numbers after a digested path", () => {
    expect(redactor.scrubText("at /srv/app/main.ts:12:5")).toMatch(/^at \[path:[a-f0-9]{16}\]:12:5$/)
  })

  it("truncates with an ellipsis, never cutting a marker in half, wherever the cut falls", () => {
    const text = "failed sk-abcdefghijklmnopqrstuvwxyz at /home/alice/proj/a.ts with password=hunter2 done"
    const full = redactor.scrubText(text, 400)
    expect(full.match(/\[(?:redacted|path):/g)).toHaveLength(3)
    for (let max = 2; max < full.length; max++) {
      const scrubbed = redactor.scrubText(text, max)
      expect(scrubbed.length, `max ${max}`).toBeLessThanOrEqual(max)
      expect(scrubbed.endsWith("…"), `max ${max}`).toBe(true)
      // Every bracket opens a whole marker: no "[redac", no "[path:3f2a".
      expect(scrubbed.slice(0, -1), `max ${max}`).toMatch(WHOLE_MARKERS_ONLY)
      expect(scrubbed).not.toContain("abcdefghij")
    }
  })

  it("collapses newlines and strips terminal escapes", () => {
    expect(redactor.scrubText("line one\n\u001b[31mline two\r\n")).toBe("line one [31mline two")
  })

  it("bounds the work on a huge message and leaves no partial secret at the cut", () => {
    const huge = `${"word ".repeat(3000)}sk-${"a".repeat(20000)}`
    const scrubbed = redactor.scrubText(huge, 10_000)
    expect(scrubbed).not.toContain("sk-aaaa")
    expect(scrubbed.endsWith("…")).toBe(true)
  })
})

describe("digestPath and digest", () => {
  it("is salted, 16 hex characters, with the path's depth", () => {
    const a = redactor.digestPath("/home/alice/project")
    expect(a).toEqual({ digest: expect.stringMatching(/^[a-f0-9]{16}$/), depth: 3 })
    expect(createRedactor("other-salt").digestPath("/home/alice/project").digest).not.toBe(a.digest)
    expect(redactor.digestPath("/home/alice/project").digest).toBe(a.digest)
  })

  it("counts Windows segments without the drive", () => {
    expect(redactor.digestPath("C:\\Users\\bob").depth).toBe(2)
  })
})

describe("errorFact", () => {
  it("keeps code, class, status and a scrubbed excerpt, never the raw message", () => {
    const err = Object.assign(
      new TypeError("fetch to https://u:CANARYpw@api.example.com failed reading /home/alice/.config/key"),
      {
        code: "ECONNREFUSED",
        status: 503,
      },
    )
    const fact = redactor.errorFact(err)
    expect(ErrorFact.parse(fact)).toEqual(fact)
    expect(fact).toMatchObject({ code: "ECONNREFUSED", class: "TypeError", status: 503 })
    expect(fact.excerpt).not.toContain("CANARYpw")
    expect(fact.excerpt).not.toContain("alice")
  })

  it("ignores a code that is not a short identifier and a status out of range", () => {
    const fact = redactor.errorFact(Object.assign(new Error("boom"), { code: "has spaces and is long", status: 42 }))
    expect(fact).toEqual({ code: "unknown", class: "Error", excerpt: "boom" })
  })

  it("reads statusCode and numeric codes", () => {
    expect(redactor.errorFact(Object.assign(new Error("x"), { code: -2, statusCode: 429 }))).toMatchObject({
      code: "-2",
      status: 429,
    })
  })

  it("digests the tool input a ToolError quotes (even a relative path), and two errors on one input still match", async () => {
    const { ToolError } = await import("../../src/tool/tool.ts")
    const { fileSystemError } = await import("../../src/tool/project-path.ts")
    const outside = redactor.errorFact(
      new ToolError(
        "path_outside_project",
        'path "../CANARY-dir/plan.txt" is outside the project directory; use a path relative to it',
      ),
    )
    expect(outside).toMatchObject({ code: "path_outside_project", class: "ToolError" })
    expect(outside.excerpt).not.toContain("CANARY")
    expect(outside.excerpt).toMatch(/^path "\[path:[a-f0-9]{16}\]" is outside the project directory/)
    const missing = redactor.errorFact(
      fileSystemError(Object.assign(new Error("x"), { code: "ENOENT" }), 'notes/CANARY "quoted" name.txt'),
    )
    expect(missing.excerpt).not.toContain("CANARY")
    expect(missing.excerpt).toMatch(/^"\[path:[a-f0-9]{16}\]" does not exist$/)
    const again = redactor.errorFact(new ToolError("not_found", '"notes/CANARY \\"quoted\\" name.txt" does not exist'))
    expect(again.excerpt).toBe(missing.excerpt)
    // An unterminated quote (a message cut short) is digested to its end.
    expect(redactor.errorFact(new ToolError("io_error", 'cannot open "CANARY-cut')).excerpt).not.toContain("CANARY")
    // Other errors keep their quoted words: only tool errors quote the model's input.
    expect(redactor.errorFact(new Error('unknown model "gpt-x"')).excerpt).toBe('unknown model "gpt-x"')
  })

  it("handles thrown strings, null and hostile objects without throwing", () => {
    expect(redactor.errorFact("password=CANARY")).toEqual({
      code: "unknown",
      class: "string",
      excerpt: "password=[redacted:password]",
    })
    expect(redactor.errorFact(null)).toEqual({ code: "unknown", class: "null" })
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("trap")
        },
        getPrototypeOf() {
          throw new Error("trap")
        },
      },
    )
    expect(redactor.errorFact(hostile)).toEqual({ code: "unknown", class: "Object" })
  })
})
