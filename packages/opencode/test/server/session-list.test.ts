/**
 * GET /session as opencode's clients call it: a bounded default page (100, newest update first),
 * `limit`, a cursor (`before`, with the next page's cursor in `x-next-cursor`), `start` and
 * `search`; bad values are a 400 naming the field. Every row has the shape GET /session/:id answers.
 */
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { finishedRun, startRun, startApp, type TestServer } from "../harness.ts"

let server: TestServer
let project: string
beforeEach(async () => {
  server = await startApp()
  project = server.project()
})
afterEach(async () => {
  await server.close()
})

/** Seeds `n` sessions in `project` with chosen update times (several share a time, as sessions made in one millisecond do). */
function seed(n: number, updated: (i: number) => number, title: (i: number) => string = (i) => `bench ${i}`): string[] {
  const { host } = server.running
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const session = host.sessions.createSession({
      directory: project,
      directoryKey: project,
      projectID: "global",
      title: title(i),
    })
    host.db.prepare("UPDATE session SET updated = ? WHERE id = ?").run(updated(i), session.id)
    ids.push(session.id)
  }
  return ids
}

const list = (query = "") => server.call("GET", `/session${query}`, { directory: project })

describe("GET /session paging", () => {
  test("answers a default page of 100, newest update first, and x-next-cursor leads through every session once", async () => {
    // 250 sessions, five per millisecond: a page boundary falls inside a run of equal times.
    seed(250, (i) => 1_000_000 + Math.floor(i / 5))
    const first = await list()
    expect(first.status).toBe(200)
    expect(Array.isArray(first.body)).toBe(true)
    expect(first.body).toHaveLength(100)
    const updated = (first.body as any[]).map((s) => s.time.updated)
    expect(updated).toEqual([...updated].sort((a, b) => b - a))
    expect(first.headers.get("x-next-cursor")).toBe(first.body[99].id)

    const seen: string[] = (first.body as any[]).map((s) => s.id)
    let cursor = first.headers.get("x-next-cursor")
    let pages = 1
    while (cursor) {
      const page = await list(`?limit=70&before=${cursor}`)
      expect(page.status).toBe(200)
      seen.push(...(page.body as any[]).map((s) => s.id))
      cursor = page.headers.get("x-next-cursor")
      pages++
    }
    expect(pages).toBe(4) // 100 + 70 + 70 + 10
    expect(seen).toHaveLength(250)
    expect(new Set(seen).size).toBe(250)
  })

  test("limit bounds the page (0 is an empty page); the last page has no cursor", async () => {
    seed(7, (i) => 2_000_000 + i)
    const five = await list("?limit=5")
    expect((five.body as any[]).map((s) => s.title)).toEqual(["bench 6", "bench 5", "bench 4", "bench 3", "bench 2"])
    expect(five.headers.get("x-next-cursor")).toBe(five.body[4].id)
    expect((await list("?limit=0")).body).toEqual([])
    const all = await list("?limit=7")
    expect(all.body).toHaveLength(7)
    expect(all.headers.get("x-next-cursor")).toBeNull()
  })

  test("before=<time> answers only sessions updated strictly before it; start= those updated at or after it", async () => {
    seed(10, (i) => 3_000_000 + i * 10)
    const before = await list("?before=3000050")
    expect((before.body as any[]).map((s) => s.time.updated)).toEqual([3000040, 3000030, 3000020, 3000010, 3000000])
    const start = await list("?start=3000070")
    expect((start.body as any[]).map((s) => s.time.updated)).toEqual([3000090, 3000080, 3000070])
  })

  test("search matches the title case-insensitively, with % and _ taken literally", async () => {
    const titles = ["Fix the parser", "parser: 100% coverage", "add_tests", "addXtests", "unrelated"]
    seed(
      titles.length,
      (i) => 4_000_000 + i,
      (i) => titles[i]!,
    )
    const titlesOf = async (q: string) =>
      ((await list(`?search=${encodeURIComponent(q)}`)).body as any[]).map((s) => s.title).sort()
    expect(await titlesOf("PARSER")).toEqual(["Fix the parser", "parser: 100% coverage"])
    expect(await titlesOf("100%")).toEqual(["parser: 100% coverage"])
    expect(await titlesOf("add_")).toEqual(["add_tests"])
    expect(await titlesOf("")).toHaveLength(5)
  })

  test("search folds case and normalises for every script: accents in NFC or NFD, Cyrillic, Greek final sigma, compatibility forms", async () => {
    const titles = ["Été à Paris", "ЖУРНАЛ сборки", "ΟΔΟΣ προς", "ﬁle Ｗｉｄｅ", "Strasse", "unrelated"]
    seed(
      titles.length,
      (i) => 4_500_000 + i,
      (i) => titles[i]!,
    )
    const titlesOf = async (q: string) =>
      ((await list(`?search=${encodeURIComponent(q)}`)).body as any[]).map((s) => s.title).sort()
    expect(await titlesOf("été")).toEqual(["Été à Paris"])
    expect(await titlesOf("e\u0301te\u0301".normalize("NFD"))).toEqual(["Été à Paris"])
    expect(await titlesOf("ÉTÉ".normalize("NFD"))).toEqual(["Été à Paris"])
    expect(await titlesOf("журнал")).toEqual(["ЖУРНАЛ сборки"])
    expect(await titlesOf("СБОРКИ")).toEqual(["ЖУРНАЛ сборки"])
    expect(await titlesOf("οδοσ")).toEqual(["ΟΔΟΣ προς"])
    expect(await titlesOf("οδος")).toEqual(["ΟΔΟΣ προς"])
    expect(await titlesOf("ΠΡΟΣ")).toEqual(["ΟΔΟΣ προς"])
    expect(await titlesOf("FILE wide")).toEqual(["ﬁle Ｗｉｄｅ"])
    expect(await titlesOf("straße")).toEqual(["Strasse"])
    expect(await titlesOf("paris ")).toEqual([])
  })

  test("a searched listing pages through every match once, newest first, with the cursor", async () => {
    // 120 sessions, every third one a match written in NFD and upper case, three per millisecond.
    const ids = seed(
      120,
      (i) => 6_000_000 + Math.floor(i / 3),
      (i) => (i % 3 === 0 ? `CAFÉ ${i}`.normalize("NFD") : `tea ${i}`),
    )
    const expected = ids.filter((_, i) => i % 3 === 0).reverse()
    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 10; page++) {
      const res = await list(`?search=caf%C3%A9&limit=7${cursor ? `&before=${cursor}` : ""}`)
      expect(res.status).toBe(200)
      seen.push(...(res.body as any[]).map((s) => s.id))
      cursor = res.headers.get("x-next-cursor")
      if (!cursor) break
    }
    expect(seen).toEqual(expected)
  })

  test.each([
    ["limit=abc", "limit"],
    ["limit=-1", "limit"],
    ["limit=1.5", "limit"],
    ["limit=1001", "limit"],
    ["before=yesterday", "before"],
    ["before=ses_nosuchsession", "before"],
    ["start=soon", "start"],
    ["roots=maybe", "roots"],
  ])("?%s is a 400 naming %s", async (query, field) => {
    seed(3, (i) => 5_000_000 + i)
    const res = await list(`?${query}`)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe("invalid_query")
    expect(res.body.error.message).toMatch(new RegExp(`^${field}\\b`))
  })

  test("a row is what GET /session/:id answers, last run and its classification included", async () => {
    const { sessionId, runId } = await startRun(server, project, "scripted/quick")
    await finishedRun(server, sessionId, runId)
    seed(2, () => 1) // older sessions with no run
    const rows = (await list()).body as any[]
    expect(rows).toHaveLength(3)
    const one = await server.call("GET", `/session/${sessionId}`)
    expect(rows[0]).toEqual(one.body)
    expect(rows[0].lastRun).toEqual({ runId, status: "finished", classification: "completed" })
    expect(rows[1]).toEqual((await server.call("GET", `/session/${rows[1].id}`)).body)
    expect(rows[1].lastRun).toBeUndefined()
  })

  test("a run's damaged summary leaves the row without a classification instead of failing the list", async () => {
    const { sessionId, runId } = await startRun(server, project, "scripted/quick")
    await finishedRun(server, sessionId, runId)
    server.running.host.db.prepare("UPDATE run SET summary = '{not json' WHERE id = ?").run(runId)
    const res = await list()
    expect(res.status).toBe(200)
    expect(res.body[0].lastRun).toEqual({ runId, status: "finished" })
  })
})
