import { describe, expect, it } from "vitest"
import {
  applySessionToPages,
  flattenSessionPages,
  nextSessionCursor,
  SESSION_PAGE,
  sessionPageQuery,
} from "../src/context/queries.ts"
import type { Session } from "../src/context/shapes.ts"

const session = (id: string, updated: number): Session => ({
  id,
  projectID: "global",
  directory: "/p",
  title: id,
  version: "0.1.0",
  time: { created: 1, updated },
})
const page = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => session(`ses_${from + i}`, 10_000 - from - i))

describe("session list paging", () => {
  it("asks for a page of SESSION_PAGE, then for the page before the last session of a full page", () => {
    expect(sessionPageQuery(undefined)).toEqual({ limit: String(SESSION_PAGE), before: undefined })
    const full = page(0, SESSION_PAGE)
    expect(nextSessionCursor(full)).toBe(full[SESSION_PAGE - 1]!.id)
    expect(sessionPageQuery(nextSessionCursor(full))).toEqual({
      limit: String(SESSION_PAGE),
      before: full[SESSION_PAGE - 1]!.id,
    })
    expect(nextSessionCursor(page(0, SESSION_PAGE - 1))).toBeUndefined()
  })

  it("a live update replaces the session on the page that lists it, or adds it to the top of the first", () => {
    const data = { pages: [page(0, 3), page(3, 3)], pageParams: [undefined, "ses_2"] }
    const moved = applySessionToPages(data, session("ses_4", 20_000))
    expect(moved.pages[1]!.find((s) => s.id === "ses_4")!.time.updated).toBe(20_000)
    expect(moved.pages[0]).toHaveLength(3)
    const added = applySessionToPages(data, session("ses_new", 30_000))
    expect(added.pages[0]![0]!.id).toBe("ses_new")
    expect(applySessionToPages(undefined, session("ses_x", 1)).pages).toEqual([[session("ses_x", 1)]])
  })

  it("flattens the pages newest first, each session once with its latest state", () => {
    const data = {
      pages: [
        [session("ses_a", 5), session("ses_b", 4)],
        [session("ses_a", 3), session("ses_c", 2)],
      ],
      pageParams: [undefined, "ses_b"],
    }
    expect(flattenSessionPages(data).map((s) => [s.id, s.time.updated])).toEqual([
      ["ses_a", 5],
      ["ses_b", 4],
      ["ses_c", 2],
    ])
  })
})
