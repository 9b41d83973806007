/**
 * Benchmark 1b: what the request hop's own code costs, without HTTP: the real app with and
 * without the spine, both in this one process (so both share the JIT's state and the heap), each
 * driven through `app.fetch` in alternating batches of `GET /session` with a directory header, the
 * project's instance open. The response header goes to a real (never written) Node response, so
 * this measures the middleware's JavaScript and Node's cost of one more header.
 */
import { IncomingMessage, ServerResponse } from "node:http"
import { Socket } from "node:net"
import { createHost } from "../packages/opencode/src/host.ts"
import { composeServerApp, createServerApp } from "../packages/opencode/src/server/app.ts"
import { median, report, round, tempDir } from "./lib.ts"

const project = tempDir("oc-bench-inproc-proj-")
const host = createHost({ dataDir: tempDir("oc-bench-inproc-data-"), env: {}, scriptedTickMs: 500 })
for (let i = 0; i < 5; i++) host.sessions.createSession({ directory: project, directoryKey: project, projectID: "global", title: `bench ${i}` })
await host.instances.load(project, project, undefined)
const apps = {
  no_spine: composeServerApp(host, { defaultDirectory: project, hostname: "127.0.0.1" }, []),
  spine: createServerApp(host, { defaultDirectory: project, hostname: "127.0.0.1" }),
}
// A real Node response (never written): the spine's header costs here what it costs on a socket's response.
const outgoing = new ServerResponse(new IncomingMessage(new Socket()))
const headers = { "x-opencode-directory": encodeURIComponent(project), host: "127.0.0.1" }
const BATCH = 10_000
const ROUNDS = 8

async function batch(app: (typeof apps)["spine"], n: number): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const res = await app.fetch(new Request("http://127.0.0.1/session", { headers }), { outgoing })
    await res.text()
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / n
}

for (const app of Object.values(apps)) await batch(app, 5_000)
const samples: Record<keyof typeof apps, number[]> = { no_spine: [], spine: [] }
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? (["no_spine", "spine"] as const) : (["spine", "no_spine"] as const)
  for (const name of order) samples[name].push(await batch(apps[name], BATCH))
}
const noSpine = median(samples.no_spine)
const spine = median(samples.spine)
report({
  batch: BATCH,
  rounds: ROUNDS,
  noSpineUs: round(noSpine, 2),
  spineUs: round(spine, 2),
  spineCostUs: round(spine - noSpine, 2),
  spineCostPct: round((spine / noSpine - 1) * 100, 1),
  samples: { no_spine: samples.no_spine.map((v) => round(v, 2)), spine: samples.spine.map((v) => round(v, 2)) },
})
host.close()
process.exit(0)
