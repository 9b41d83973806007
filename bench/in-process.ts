/**
 * Benchmark 1b: what the request hop's own code costs, without a socket: the real app with and
 * without the spine, both in this one process (so both share the JIT's state and the heap),
 * each behind @hono/node-server's own request listener (what `serve` installs) and handed a fresh
 * Node `IncomingMessage`/`ServerResponse` pair per request. The response is written as on a
 * server (`writeHead` merges the spine's header into the head, the body is buffered on the
 * response because no socket is attached), so this measures the middleware's JavaScript and
 * Node's cost of one more response header, without the kernel.
 *
 * The machine may be shared, and other load swings a batch's CPU time by more than the spine
 * costs. So the two apps run in many short batches, back to back in alternating order, and the
 * figure is the median of the paired differences (each spine batch against the no_spine batch
 * beside it): a swing that lasts longer than a pair cancels out. Two routes: `GET /health` (the
 * smallest request, so the least noise in µs) and `GET /session` with the project's instance open
 * (what the app polls).
 */
import { getRequestListener } from "@hono/node-server"
import { IncomingMessage, ServerResponse } from "node:http"
import { Socket } from "node:net"
import { createHost } from "../packages/opencode/src/host.ts"
import { composeServerApp, createServerApp } from "../packages/opencode/src/server/app.ts"
import { median, report, round, tempDir } from "./lib.ts"

const project = tempDir("oc-bench-inproc-proj-")
const host = createHost({ dataDir: tempDir("oc-bench-inproc-data-"), env: {}, scriptedTickMs: 500 })
for (let i = 0; i < 5; i++)
  host.sessions.createSession({ directory: project, directoryKey: project, projectID: "global", title: `bench ${i}` })
await host.instances.load(project, project, undefined)
const apps = {
  no_spine: composeServerApp(host, { defaultDirectory: project, hostname: "127.0.0.1" }, []),
  spine: createServerApp(host, { defaultDirectory: project, hostname: "127.0.0.1" }),
}
type Variant = keyof typeof apps
const listeners = { no_spine: getRequestListener(apps.no_spine.fetch), spine: getRequestListener(apps.spine.fetch) }
const socket = new Socket()
const ROUTES = [
  { name: "GET /health", path: "/health", headers: { host: "127.0.0.1" } },
  {
    name: "GET /session, instance open",
    path: "/session",
    headers: { "x-opencode-directory": encodeURIComponent(project), host: "127.0.0.1" },
  },
]
const BATCH = Number(process.env.BENCH_INPROC_BATCH ?? 2_000)
const ROUNDS = Number(process.env.BENCH_INPROC_ROUNDS ?? 40)

async function batch(
  listener: (typeof listeners)[Variant],
  route: (typeof ROUTES)[number],
  n: number,
): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const incoming = new IncomingMessage(socket)
    incoming.method = "GET"
    incoming.url = route.path
    incoming.headers = route.headers
    incoming.push(null)
    const outgoing = new ServerResponse(incoming)
    await listener(incoming, outgoing)
    if (outgoing.statusCode !== 200) throw new Error(`${route.name}: ${outgoing.statusCode}`)
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / n
}

const results = []
for (const route of ROUTES) {
  for (const listener of Object.values(listeners)) await batch(listener, route, 5_000)
  const samples: Record<Variant, number[]> = { no_spine: [], spine: [] }
  const diffs: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const order: Variant[] = r % 2 === 0 ? ["no_spine", "spine"] : ["spine", "no_spine"]
    for (const name of order) samples[name].push(await batch(listeners[name], route, BATCH))
    diffs.push(samples.spine.at(-1)! - samples.no_spine.at(-1)!)
  }
  const noSpine = median(samples.no_spine)
  const spineCostUs = median(diffs)
  const sorted = [...diffs].sort((a, b) => a - b)
  results.push({
    route: route.name,
    noSpineUs: round(noSpine, 2),
    spineUs: round(median(samples.spine), 2),
    spineCostUs: round(spineCostUs, 2),
    spineCostPct: round((spineCostUs / noSpine) * 100, 1),
    /** The middle half of the paired differences: how far one pair strays from another. */
    diffIqr: [round(sorted[Math.floor(sorted.length / 4)]!, 2), round(sorted[Math.floor((3 * sorted.length) / 4)]!, 2)],
    samples: { no_spine: samples.no_spine.map((v) => round(v, 2)), spine: samples.spine.map((v) => round(v, 2)) },
  })
}
report({ batch: BATCH, rounds: ROUNDS, routes: results })
host.close()
process.exit(0)
