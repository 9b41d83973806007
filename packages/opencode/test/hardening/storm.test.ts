/**
 * A load storm: 100 concurrent `scripted/slow` runs across 10 directories while 1,000 overlapping
 * lifecycle actions of every kind fire (reload, dispose, dispose_all, PATCH /config, git init
 * from outside the server so `load` finds the context changed, the user's cancel), and new
 * prompts keep arriving into instances that are closing. Afterwards:
 *
 * - every `run.started` in the journal has exactly one `run.finished`, and every run a summary;
 * - every interrupted run has exactly one incident, with an origin kind (or an explicit
 *   `unknown`), and no incident reads `diagnosed` while naming missing fields;
 * - nothing leaks: no active runs, no instances, no held directory locks, no SSE subscribers,
 *   no config watchers or timers beyond the baseline, an empty journal backlog;
 * - the heap returns near its baseline after GC, and a second round does not grow it further.
 *
 * Scale: as asked (100 runs, 1,000 actions in two rounds of 500), no scaling down.
 */
import { execFile } from "node:child_process"
import { existsSync, rmSync } from "node:fs"
import path from "node:path"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { promisify } from "node:util"
import { afterAll, expect, it } from "vitest"
import { Origin } from "../../src/provenance/schemas.ts"
import { countSubscriptions, startApp, waitFor, type TestServer } from "../harness.ts"

const ORIGIN_KINDS = Origin.options.map((option) => option.shape.kind.value)

const run = promisify(execFile)
const DIRECTORIES = 10
const SESSIONS_PER_DIRECTORY = 10
const ACTIONS_PER_ROUND = 500
const IN_FLIGHT = 16

/** `global.gc` if the worker has it, else the V8 flag trick (the same collector). */
function collector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc
  if (existing) return existing
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
}

function heapAfterGc(gc: () => void): number {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

/** Counts of live libuv resources by type (FSEvent = watchers, Timeout = timers, TCPWrap = sockets). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

let server: TestServer | undefined
afterAll(async () => {
  await server?.close()
})

it(
  "100 runs across 10 directories through 1,000 overlapping lifecycle actions: one summary each, honest incidents, nothing leaks",
  { timeout: 90_000 },
  async () => {
    const gc = collector()
    const s = (server = await startApp({ tickMs: 100, settleTimeoutMs: 3000 }))
    const host = s.running.host
    const dirs = Array.from({ length: DIRECTORIES }, () => s.project())
    const sessions: { id: string; dir: string }[] = []
    for (const dir of dirs) {
      for (let i = 0; i < SESSIONS_PER_DIRECTORY; i++) {
        const res = await s.call("POST", "/session", { directory: dir, body: {} })
        expect(res.status).toBe(200)
        sessions.push({ id: res.body.id, dir })
      }
    }
    await s.call("POST", "/global/dispose")
    const baselineResources = resources()
    const liveSubscriptions = countSubscriptions(host.bus)
    const baselineHeap = heapAfterGc(gc)

    const runIds = new Set<string>()
    const statuses: Record<string, number> = {}
    const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1)
    const prompt = async (session: { id: string; dir: string }) => {
      const res = await s.call("POST", `/session/${session.id}/prompt`, {
        directory: session.dir,
        body: { text: "storm", model: "scripted/slow" },
      })
      count(`prompt ${res.status}${res.status === 200 ? "" : ` ${res.body?.error?.code}`}`)
      if (res.status === 200) runIds.add(res.body.runId)
      else expect([409]).toContain(res.status)
    }

    const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!
    let patchN = 0
    const outsideBusy = new Set<string>()
    const action = async (): Promise<void> => {
      const dir = pick(dirs)
      const roll = Math.random()
      let res: { status: number; body: any } | undefined
      if (roll < 0.3) ((res = await s.call("POST", "/instance/reload", { directory: dir })), count("reload"))
      else if (roll < 0.55) ((res = await s.call("POST", "/instance/dispose", { directory: dir })), count("dispose"))
      else if (roll < 0.6) ((res = await s.call("POST", "/global/dispose")), count("dispose_all"))
      else if (roll < 0.78)
        ((res = await s.call("PATCH", "/config", { directory: dir, body: { storm: ++patchN } })), count("patch_config"))
      else if (roll < 0.86) {
        // Outside the server: the repository appears or disappears, and the next request's load sees it.
        // One outside program per directory at a time (two would only race each other, not the server).
        if (!outsideBusy.has(dir)) {
          outsideBusy.add(dir)
          try {
            if (existsSync(path.join(dir, ".git")))
              rmSync(path.join(dir, ".git"), { recursive: true, force: true, maxRetries: 3 })
            else await run("git", ["init", "-q", dir])
          } catch {
            // It raced the server's own `git init` route on the same directory, as a real program could.
            count("git_outside_raced")
          } finally {
            outsideBusy.delete(dir)
          }
        }
        count("git_outside")
        res = await s.call("GET", "/session", { directory: dir })
      } else if (roll < 0.9)
        ((res = await s.call("POST", "/project/git/init", { directory: dir })), count("git_init_route"))
      else if (roll < 0.95) {
        const session = pick(sessions)
        res = await s.call("POST", `/session/${session.id}/abort`, { directory: session.dir })
        count("user_abort")
      } else {
        await prompt(pick(sessions))
        return
      }
      // The one 5xx allowed: `git init` itself failing because an outside program removed .git under it.
      if (res.status >= 500) expect(res.body?.error?.code, JSON.stringify(res.body)).toBe("git_init_failed")
    }

    const round = async () => {
      // 100 concurrent runs, every one in flight before the storm begins.
      await Promise.all(sessions.map((session) => prompt(session)))
      await waitFor(() => host.processor.activeRuns().length >= sessions.length * 0.9, 15_000)
      let issued = 0
      let stop = false
      // Prompts keep arriving during the storm, into instances that are closing or reopening.
      const prompter = (async () => {
        while (!stop) {
          const idle = sessions.filter((session) => !host.processor.activeRun(session.id))
          await Promise.all(idle.slice(0, 8).map(prompt))
          await new Promise((resolve) => setTimeout(resolve, 30))
        }
      })()
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (issued < ACTIONS_PER_ROUND) {
            issued++
            await action()
          }
        }),
      )
      stop = true
      await prompter
      const all = await s.call("POST", "/global/dispose")
      expect(all.status).toBe(200)
      await waitFor(() => host.processor.activeRuns().length === 0, 20_000)
    }

    const started = Date.now()
    await round()
    const heapAfterFirst = heapAfterGc(gc)
    await round()
    const elapsed = Date.now() - started

    // Exactly one summary per run, in the journal and in the run table.
    const perRun = host.db
      .prepare(
        `SELECT run_id, sum(kind = 'run.started') AS started, sum(kind = 'run.finished') AS finished
       FROM journal WHERE kind IN ('run.started', 'run.finished') GROUP BY run_id`,
      )
      .all() as { run_id: string; started: number; finished: number }[]
    expect(perRun.length).toBe(runIds.size)
    expect(perRun.filter((row) => row.started !== 1 || row.finished !== 1)).toEqual([])
    const unfinished = host.db
      .prepare("SELECT count(*) AS n FROM run WHERE finished_at IS NULL OR summary IS NULL")
      .get() as { n: number }
    expect(unfinished.n).toBe(0)

    // Every interrupted run: exactly one incident, honest about what it knows.
    const classifications: Record<string, number> = {}
    const verdicts: Record<string, number> = {}
    let interrupted = 0
    for (const session of sessions) {
      const runs = (await s.call("GET", `/session/${session.id}/run`)).body as any[]
      const incidents = (await s.call("GET", `/session/${session.id}/incident`)).body as any[]
      for (const r of runs) {
        const classification = r.summary.classification as string
        classifications[classification] = (classifications[classification] ?? 0) + 1
        // Teardown during a close is never blamed on the provider or a tool.
        expect(["provider_error", "tool_error", "process_exit_without_finalizer"]).not.toContain(classification)
        if (classification === "completed") continue
        interrupted++
        const mine = incidents.filter((chain) => chain.runId === r.runId)
        expect(mine, `incidents of ${r.runId}`).toHaveLength(1)
        const chain = mine[0]
        verdicts[chain.verdict] = (verdicts[chain.verdict] ?? 0) + 1
        expect(ORIGIN_KINDS, JSON.stringify(chain)).toContain(chain.origin?.kind)
        expect(Array.isArray(chain.missing)).toBe(true)
        if (chain.verdict === "diagnosed") expect(chain.missing, JSON.stringify(chain)).toEqual([])
        if (chain.origin.kind === "unknown" || classification === "unknown_interrupt") {
          expect(chain.verdict).toBe("missing_provenance")
          expect(chain.missing.length).toBeGreaterThan(0)
        }
        expect(["diagnosed", "partially_diagnosed", "missing_provenance"]).toContain(chain.verdict)
      }
    }
    expect(interrupted).toBeGreaterThan(100)

    // Nothing left behind.
    expect(host.processor.activeRuns()).toHaveLength(0)
    expect(host.instances.list()).toHaveLength(0)
    expect((host.instances.locks as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0)
    expect(liveSubscriptions()).toBe(0)
    expect(host.health().journal).toMatchObject({ backlog: 0, lost: 0 })
    expect(host.lifecycle.size).toBeLessThanOrEqual(2000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const after = resources()
    for (const type of ["FSEvent", "Timeout", "FSReqCallback", "ProcessWrap"]) {
      expect(after[type] ?? 0, `${type}: ${JSON.stringify({ baselineResources, after })}`).toBeLessThanOrEqual(
        (baselineResources[type] ?? 0) + 2,
      )
    }
    const heapAfterSecond = heapAfterGc(gc)
    const mb = (n: number) => Math.round(n / 1024 / 102.4) / 10
    console.log(
      `storm: ${runIds.size} runs, ${2 * ACTIONS_PER_ROUND} actions in ${elapsed} ms; ${JSON.stringify(statuses)}; ` +
        `classifications ${JSON.stringify(classifications)}; verdicts ${JSON.stringify(verdicts)}; ` +
        `heap MB baseline ${mb(baselineHeap)}, after round 1 ${mb(heapAfterFirst)}, after round 2 ${mb(heapAfterSecond)}`,
    )
    // Bounded structures (event replay buffer, recent-action map) fill once; a second round adds nothing.
    expect(heapAfterSecond - heapAfterFirst).toBeLessThan(12 * 1024 * 1024)
    expect(heapAfterSecond - baselineHeap).toBeLessThan(48 * 1024 * 1024)
  },
)
