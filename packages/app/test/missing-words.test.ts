/**
 * Every field completeness can name (provenance/completeness.ts), as the chain prefixes it, must read
 * as words: the glossary keys `origin.reason`, `origin.change`, `origin.workspace` name none of them.
 */
import { computeProvenance } from "opencode/provenance/completeness"
import { expect, it } from "vitest"
import { missingWords } from "../src/diagnostics/glossary.ts"

it("every missing origin field the server can name is worded", () => {
  const names = [
    ...computeProvenance({ kind: "context_mismatch" } as never).missing,
    ...computeProvenance({ kind: "config_invalidation", writtenByRoute: true } as never).missing,
    ...computeProvenance({ kind: "forwarded_remote" } as never).missing,
    ...computeProvenance({ kind: "shutdown" } as never).missing,
  ].map((name) => `origin.${name}`)
  const raw = names.filter((name) => missingWords(name) === name.replace(/[_.]+/g, " "))
  expect(raw.map((name) => `${name} → "${missingWords(name)}"`)).toEqual([])
})
