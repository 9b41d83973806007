/**
 * Every scrubber applies the one secret table: the same canaries, planted in the log
 * scrubber's, the redactor's and the provider excerpt's input, are gone from all three outputs.
 */
import { describe, expect, it } from "vitest"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { excerptOf } from "../../src/provider/openai.ts"
import { scrubForLog } from "../../src/server/errors.ts"

const canaries = [
  { kind: "github token", text: "push refused for ghp_CANARYabcdefghijklmnopqrstuv0123", secret: "CANARYabcdef" },
  {
    kind: "fine-grained github token",
    text: "clone with github_pat_11CANARY0abcdefghij_KLMNOPqrstuvwxyz0123 failed",
    secret: "CANARY0abcdef",
  },
  {
    kind: "jwt",
    text: "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJlQ0FOQVJZ expired",
    secret: "eyJzdWIiOiJDQU5BUlkifQ",
  },
  { kind: "url credentials", text: "fetch https://alice:CANARYpass@registry.example.com failed", secret: "CANARYpass" },
  { kind: "aws key", text: "aws AKIACANARY0123456789 denied", secret: "AKIACANARY0123456789" },
  { kind: "sk- key", text: "401 for sk-proj-CANARY_9f8e7d6c5b4a3210zyx", secret: "CANARY_9f8e7d" },
  { kind: "short sk- key", text: "401 for sk-CANARY1", secret: "CANARY1" },
  { kind: "bearer token", text: "sent Bearer CANARYbearer.token-value_42", secret: "CANARYbearer" },
]

const scrubbers = {
  log: (text: string) => scrubForLog(new Error(text), {}),
  redactor: (text: string) => createRedactor("salt").errorFact(new Error(text)).excerpt ?? "",
  "provider excerpt": (text: string) => excerptOf(text),
}

describe("the one secret table", () => {
  for (const [name, scrub] of Object.entries(scrubbers)) {
    for (const { kind, text, secret } of canaries) {
      it(`the ${name} replaces a ${kind} with a marker`, () => {
        const out = scrub(text)
        expect(out).not.toContain(secret)
        expect(out).toMatch(/\[redacted:[a-z_]+\]/)
      })
    }
  }

  it("the log and the provider excerpt replace the configured secrets whatever their shape", () => {
    expect(scrubForLog("boom plainCANARYtoken here", { OPENCODE_SERVER_TOKEN: "plainCANARYtoken" })).toBe(
      "boom [redacted:opencode_server_token] here",
    )
    expect(excerptOf("bad key plainCANARYkey", "plainCANARYkey")).toBe("bad key [redacted:api_key]")
  })
})
