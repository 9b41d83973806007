/**
 * Every name an incident chain can put in `missing` reads as words. The names are enumerated from
 * the server's own code, not listed by hand: every origin kind of the `Origin` schema given to
 * `computeProvenance` with nothing recorded (plus the variants that add a name: a config our route
 * wrote, an app request without its action), named as the chain names them, and every hop-level
 * name (`HOP_MISSING_NAME`). A field the server starts to require fails here until it is worded.
 */
import { computeProvenance } from "opencode/provenance/completeness"
import { HOP_MISSING_NAME } from "opencode/provenance/incident-chain"
import { Origin, type OriginInput } from "opencode/provenance/schemas"
import { describe, expect, it } from "vitest"
import { INTERNAL_TOKENS, missingWords } from "../src/diagnostics/glossary.ts"

const HOP_LEVEL = new Set(Object.values(HOP_MISSING_NAME).filter((name) => !name.includes(".")))
/** As `missingFieldName` in incident-chain.ts names a provenance name. */
const asChainNames = (name: string) => (HOP_LEVEL.has(name) || name.includes(".") ? name : `origin.${name}`)

const KINDS = Origin.options.map((option) => option.shape.kind.value)

function originNames(): string[] {
  const inputs: OriginInput[] = [
    ...KINDS.map((kind) => ({ kind }) as OriginInput),
    { kind: "config_invalidation", writtenByRoute: true },
    {
      kind: "api_route",
      request: {
        requestId: "req_1",
        route: "/instance/reload",
        method: "POST",
        clientKind: "app",
        actionHeader: "absent",
      },
    },
  ]
  return inputs.flatMap((origin) => {
    const { missing } = computeProvenance(origin)
    // An unknown origin's names are given as they are; every other is a field of the origin.
    return origin.kind === "unknown" ? missing : missing.map(asChainNames)
  })
}

const ALL = [
  ...new Set([
    ...originNames(),
    ...Object.values(HOP_MISSING_NAME),
    // An origin the reader does not recognise, and one whose kind did not parse (withProvenance).
    "origin",
    "origin.kind",
  ]),
]

describe("missing names in words", () => {
  it("enumerates the names every origin kind can miss", () => {
    expect(KINDS.length).toBeGreaterThanOrEqual(7)
    expect(ALL).toEqual(
      expect.arrayContaining([
        "origin.mismatch_reason",
        "origin.file_key",
        "origin.change_kind",
        "origin.workspace_id",
      ]),
    )
  })

  it("words every one of them: no raw token, no internal token", () => {
    const raw = ALL.filter((name) => missingWords(name) === name.replace(/[_.]+/g, " "))
    expect(raw.map((name) => `${name} → "${missingWords(name)}"`)).toEqual([])
    for (const name of ALL) {
      const words = missingWords(name)
      expect(words, name).not.toMatch(/[_.]/)
      expect(words, name).not.toMatch(/\borigin\b/)
      for (const token of INTERNAL_TOKENS) expect(words, name).not.toContain(token)
    }
  })
})
