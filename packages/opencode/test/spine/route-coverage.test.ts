/**
 * Runtime guard (docs/architecture.md, "Mechanisms that close each known loophole"): every route of the server is called against a
 * directory with an active run. A route that stops a run must be in the list of routes known to
 * close instances (each mapped to the test that covers it), and the stop must carry a complete
 * origin naming that route's request.
 */
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, expect, test } from "vitest"
import { createServerApp } from "../../src/server/app.ts"
import { appIsBuilt, isAppPath } from "../../src/server/routes/static-app.ts"
import { buildSessionExport } from "../../src/session/export.ts"
import { startRun, startTestServer, type TestServer } from "../harness.ts"

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Routes that stop runs, and the spine test that interrupts a real run through each. */
const KNOWN_CLOSERS: Record<string, string> = {
  "POST /instance/reload": "spine/lifecycle-routes.test.ts",
  "POST /instance/dispose": "spine/lifecycle-routes.test.ts",
  "POST /global/dispose": "spine/lifecycle-routes.test.ts",
  "POST /project/git/init": "spine/context-mismatch.test.ts",
  "PATCH /config": "spine/config-invalidation.test.ts",
  "PATCH /global/config": "spine/config-invalidation.test.ts",
  "PUT /config": "hardening/config-replace.test.ts",
  "PUT /global/config": "hardening/config-replace.test.ts",
  "POST /session/:id/abort": "spine/user-stops.test.ts",
}

const BODIES: Record<string, unknown> = {
  "POST /session": { title: "route coverage" },
  "POST /session/:id/prompt": { text: "hi", model: "scripted/quick" },
  "POST /session/:id/prompt_async": {
    parts: [{ type: "text", text: "hi" }],
    model: { providerID: "scripted", modelID: "quick" },
  },
  "POST /session/:id/message": {
    parts: [{ type: "text", text: "hi" }],
    model: { providerID: "scripted", modelID: "quick" },
  },
  "PATCH /config": { routeCoverage: true },
  "PATCH /global/config": { routeCoverage: true },
  "PUT /config": { routeCoverage: "replaced" },
  "PUT /global/config": { routeCoverage: "replaced" },
  "POST /diagnostics/renderer": { actions: [{ actionId: "act_cov", name: "route.coverage", page: "/", time: 1 }] },
}

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ tickMs: 100 })
})
afterAll(async () => {
  await server.close()
})

test("every route, against a directory with an active run: only known closers stop runs, always with a complete origin", async () => {
  const host = server.running.host
  const routes = [
    ...new Map(
      createServerApp(host, { defaultDirectory: server.project() })
        .routes.filter((route) => route.method !== "ALL")
        .map((route) => [`${route.method} ${route.path}`, route] as const),
    ).values(),
  ]
  expect(routes.length).toBeGreaterThan(20)
  for (const key of Object.keys(KNOWN_CLOSERS))
    expect(
      routes.map((r) => `${r.method} ${r.path}`),
      `known closer ${key} is a route`,
    ).toContain(key)

  const dir = server.project()
  const tracked: { sessionId: string; runId: string; route?: string }[] = []
  let active: { sessionId: string; runId: string } | undefined
  const examined = new Set<string>()
  const problems: string[] = []
  const closers = new Set<string>()

  const examine = (route: string) => {
    for (const run of tracked) {
      if (examined.has(run.runId)) continue
      const summary = host.sessions.runs(run.sessionId).find((r) => r.runId === run.runId)?.summary
      if (!summary) continue
      examined.add(run.runId)
      if (summary.classification === "completed") continue
      closers.add(route)
      if (!(route in KNOWN_CLOSERS))
        problems.push(`${route} stopped ${run.runId} (${summary.classification}) but is not a known closer`)
      const chain = buildSessionExport(host, run.sessionId, "diagnostics")!.incidents.find(
        (c) => c.runId === run.runId,
      )!
      const origin = chain.origin as {
        kind: string
        provenance?: { complete: boolean; missing: string[] }
        request?: { route: string; method: string }
      }
      if (!origin.provenance?.complete || chain.verdict !== "diagnosed") {
        problems.push(
          `${route} stopped ${run.runId} with origin ${origin.kind}, verdict ${chain.verdict}, missing ${JSON.stringify(chain.missing)}`,
        )
      }
      const template = route.slice(route.indexOf(" ") + 1)
      if (origin.request && (origin.request.route !== template || origin.request.method !== route.split(" ")[0])) {
        problems.push(
          `${route} stopped ${run.runId} but the origin names ${origin.request.method} ${origin.request.route}`,
        )
      }
    }
  }

  for (const route of routes) {
    const key = `${route.method} ${route.path}`
    if (!active || host.processor.activeRun(active.sessionId)?.runId !== active.runId) {
      active = await startRun(server, dir)
      tracked.push(active)
    }
    const url = route.path.replace(/:id\b/g, active.sessionId).replace(/\*$/, "x")
    const headers: Record<string, string> = { "x-opencode-directory": encodeURIComponent(dir) }
    const body = BODIES[key] ?? (route.method === "GET" ? undefined : {})
    if (body !== undefined) headers["content-type"] = "application/json"
    const controller = new AbortController()
    const res = await fetch(server.url + url, {
      method: route.method,
      headers,
      signal: controller.signal,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    // The app's page answers 503 "not built" until `npm run build` (vitest may run before the build).
    const unbuiltPage = res.status === 503 && isAppPath(url) && !appIsBuilt()
    if (!unbuiltPage) expect(res.status, `${key} answered ${res.status}`).toBeLessThan(500)
    if (res.headers.get("content-type")?.includes("text/event-stream")) controller.abort()
    else await res.text()
    examine(key)
  }
  examine("(after every route)")

  expect(problems).toEqual([])
  // Every known closer really stops a run, and the test that covers it exists.
  expect([...closers].sort()).toEqual(Object.keys(KNOWN_CLOSERS).sort())
  for (const file of Object.values(KNOWN_CLOSERS)) expect(existsSync(path.resolve(HERE, "..", file)), file).toBe(true)
})
