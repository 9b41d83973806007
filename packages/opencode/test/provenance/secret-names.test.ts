/**
 * One list of secret key words serves every scrubber: the export's redactor, the log scrubber
 * and the provider's error excerpt hide the value of the same secret-named keys, a key that
 * only contains the word (`x_api_key`, `db_password`) included.
 */
import { describe, expect, it } from "vitest"
import { createRedactor } from "../../src/provenance/node/redaction.ts"
import { excerptOf } from "../../src/provider/openai.ts"
import { scrubForLog } from "../../src/server/errors.ts"

const planted = [
  "x_api_key=CANARY1value",
  "db_password: CANARY2value",
  "Authorization=CANARY3value",
  "session_cookie='CANARY4value'",
  "user_credentials=CANARY5value",
  '"refresh_token": "CANARY6value"',
  "client.secret=CANARY7value",
]

const scrubbers = {
  redactor: (text: string) => createRedactor("salt").scrubText(text, 4000),
  log: (text: string) => scrubForLog(text, {}),
  excerpt: (text: string) => excerptOf(text),
}

describe("secret-named keys", () => {
  for (const [name, scrub] of Object.entries(scrubbers)) {
    it(`the ${name} hides every planted value and keeps the key`, () => {
      for (const text of planted) {
        const out = scrub(text)
        expect(out, text).not.toMatch(/CANARY/)
        expect(out, text).toContain(text.split(/["'=: ]/).find((part) => part.length > 0)!)
      }
    })
  }
})
