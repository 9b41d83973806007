/**
 * `npm run bench`: every benchmark in one run on this machine, figures written to BENCHMARKS.md.
 * Each part runs in its own process (the HTTP servers too), so no part's heap or JIT state
 * leaks into another's. Not part of `npm test`.
 *
 *   BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WARMUP_S   request overhead (default 5 rounds, 4 s, 1 s)
 *   BENCH_RELOADS                                     lifecycle latency samples (default 200)
 *   BENCH_EXPORT_SIZES                                messages per export size (default 1000,10000,100000)
 *   BENCH_MEMORY_REQUESTS, BENCH_MEMORY_BUDGET_MS     memory run (default 1M requests, 200 s budget)
 *   BENCH_EXPLAIN_MESSAGES, BENCH_EXPLAIN_RUNS        explain's export size and runs (default 100000 messages, 3 runs)
 *   BENCH_HOLD_MESSAGES                               messages in the session the event-loop hold is measured on (default 10000)
 *   BENCH_CRASH_RUNS                                  journalled runs the crash scan reads (default 10000)
 *   BENCH_PROMPTS                                     prompt samples per server against opencode (default 60)
 *   OPENCODE_REFERENCE_BIN                            an opencode binary to compare with (else installed into bench/.cache)
 *   BENCH_SSE_EVENTS, BENCH_SSE_ROUNDS, BENCH_SSE_CLIENTS SSE fan-out (default 2000 events, 5 rounds, 1,10,100 clients)
 *   BENCH_ONLY=overhead,inprocess,lifecycle,sse,export,hold,explain,memory,crash,opencode  some parts only: figures to bench/partial-run.json, BENCHMARKS.md and last-run.json untouched
 */
import autocannon from "autocannon"
import { spawn, type ChildProcess, execSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { BENCH_DIR, cpuMicros, median, pass, round, ROOT, runPart } from "./lib.ts"
import { renderExplain } from "./render-explain.ts"
import { renderHold } from "./render-hold.ts"
import { renderSse, type SseFanoutResult } from "./render-sse.ts"

const round2 = (n: number) => round(n, 2)

const only = process.env.BENCH_ONLY?.split(",")
const want = (part: string) => !only || only.includes(part)
const renderOnly = process.env.BENCH_RENDER === "1"
const began = Date.now()
const loadStart = os.loadavg()
const log = (msg: string) => process.stderr.write(`[bench ${Math.round((Date.now() - began) / 1000)}s] ${msg}\n`)
// The machine may be shared: the 1-minute load average every 5 s, so the report can say how busy it was.
const loadSamples: number[] = []
const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5_000)
loadTimer.unref()

// ---------- 1. request overhead ----------
type Variant = "no_spine" | "no_spine_als" | "spine" | "otel" | "spine_otel" | "spine_export"
const VARIANTS: Variant[] = ["no_spine", "no_spine_als", "spine", "otel", "spine_otel", "spine_export"]
interface ServerChild {
  variant: Variant
  child: ChildProcess
  url: string
  project: string
  closedProject: string
  spans: Promise<number | undefined>
}

function startHttpServer(variant: Variant): Promise<ServerChild> {
  const otel = variant === "otel" || variant === "spine_otel"
  const spine = variant === "spine" || variant === "spine_otel" || variant === "spine_export"
  const args = [
    ...(otel ? ["--import", path.join(BENCH_DIR, "otel-register.mjs")] : []),
    "--import",
    "tsx",
    path.join(BENCH_DIR, "http-server.ts"),
  ]
  const env = {
    ...process.env,
    BENCH_SPINE: spine ? "1" : "0",
    BENCH_ALS: variant === "no_spine_als" ? "1" : "0",
    BENCH_EXPORT: variant === "spine_export" ? "1" : "0",
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] })
  let out = ""
  let started = false
  let resolveSpans!: (n: number | undefined) => void
  const spans = new Promise<number | undefined>((r) => (resolveSpans = r))
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const ready = out.split("\n").find((l) => l.startsWith("BENCH_READY "))
      if (ready && !started) {
        started = true
        const info = JSON.parse(ready.slice(12)) as { url: string; project: string; closedProject: string }
        resolve({ variant, child, url: info.url, project: info.project, closedProject: info.closedProject, spans })
      }
    })
    child.once("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCH_SPANS "))
      resolveSpans(line ? Number(line.slice(12)) : undefined)
      reject(new Error(`${variant} server exited ${code}`))
    })
  })
}

async function load(url: string, headers: Record<string, string>, seconds: number, pid?: number) {
  const cpuBefore = cpuMicros(pid)
  const result = await autocannon({ url, connections: 10, duration: seconds, headers })
  const cpuAfter = cpuMicros(pid)
  const cpuUsPerRequest =
    cpuBefore !== undefined && cpuAfter !== undefined && result.requests.total > 0
      ? (cpuAfter - cpuBefore) / result.requests.total
      : NaN
  return {
    rps: result.requests.total / seconds,
    cpuUsPerRequest,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }
}

async function overhead() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const duration = Number(process.env.BENCH_DURATION_S ?? 4)
  const warmup = Number(process.env.BENCH_WARMUP_S ?? 1)
  const variants = VARIANTS
  const servers = new Map<Variant, ServerChild>()
  for (const v of variants) servers.set(v, await startHttpServer(v))
  const routes = [
    {
      name: "GET /session, instance open",
      representative: true,
      path: "/session",
      headers: (s: ServerChild) => ({ "x-opencode-directory": encodeURIComponent(s.project) }),
    },
    {
      name: "GET /session, no instance",
      representative: true,
      path: "/session",
      headers: (s: ServerChild) => ({ "x-opencode-directory": encodeURIComponent(s.closedProject) }),
    },
    { name: "GET /health", representative: false, path: "/health", headers: () => ({}) },
  ]
  const samples: ({ route: string; variant: Variant; round: number } & Awaited<ReturnType<typeof load>>)[] = []
  for (let round = 0; round < rounds; round++) {
    for (const route of routes) {
      // Alternate the order every round, so drift (thermal, other load) does not favour one variant.
      const order = round % 2 === 0 ? variants : [...variants].reverse()
      for (const variant of order) {
        const server = servers.get(variant)!
        await load(server.url + route.path, route.headers(server), warmup)
        const r = await load(server.url + route.path, route.headers(server), duration, server.child.pid)
        samples.push({ route: route.name, variant, round, ...r })
        log(
          `overhead ${route.name} ${variant} round ${round + 1}: ${Math.round(r.rps)} req/s, ${round2(r.cpuUsPerRequest)} µs CPU/request${r.non2xx || r.errors ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : ""}`,
        )
      }
    }
  }
  for (const s of servers.values()) s.child.kill("SIGTERM")
  const spans = ((await servers.get("otel")!.spans) ?? 0) + ((await servers.get("spine_otel")!.spans) ?? 0)
  const table = routes.map((route) => {
    const rps = (v: Variant) => {
      const list = samples.filter((s) => s.route === route.name && s.variant === v)
      return list.reduce((a, s) => a + s.rps, 0) / list.length
    }
    // CPU per request: the median over rounds (robust to a round disturbed by other load on the machine).
    const cpu = (v: Variant) =>
      median(samples.filter((s) => s.route === route.name && s.variant === v).map((s) => s.cpuUsPerRequest))
    const perRound = (v: Variant) =>
      samples
        .filter((s) => s.route === route.name && s.variant === v)
        .map((s) => `${Math.round(s.rps)} (${round2(s.cpuUsPerRequest)} µs)`)
    const none = rps("no_spine")
    const spine = rps("spine")
    const otelAlone = rps("otel")
    const otel = rps("spine_otel")
    const cpuNone = cpu("no_spine")
    const cpuSpine = cpu("spine")
    const cpuOtel = cpu("spine_otel")
    return {
      route: route.name,
      representative: route.representative,
      spineCpuUs: cpuSpine - cpuNone,
      rps: Object.fromEntries(VARIANTS.map((v) => [v, Math.round(rps(v))])) as Record<Variant, number>,
      cpuUs: Object.fromEntries(VARIANTS.map((v) => [v, round2(cpu(v))])) as Record<Variant, number>,
      rounds: Object.fromEntries(VARIANTS.map((v) => [v, perRound(v)])) as Record<Variant, string[]>,
      spineRatio: spine / none,
      otelRatio: otel / spine,
      otelAloneRatio: otelAlone / none,
      spineCostPct: (1 - spine / none) * 100,
      otelCostPct: (1 - otel / spine) * 100,
      otelAloneCostPct: (1 - otelAlone / none) * 100,
      spineCpuCostPct: (cpuSpine / cpuNone - 1) * 100,
      alsCpuCostPct: (cpu("no_spine_als") / cpuNone - 1) * 100,
      otelCpuCostPct: (cpuOtel / cpuSpine - 1) * 100,
      otelAloneCpuCostPct: (cpu("otel") / cpuNone - 1) * 100,
      exportCpuCostPct: (cpu("spine_export") / cpuSpine - 1) * 100,
    }
  })
  return { rounds, duration, warmup, connections: 10, table, samples, otelSpansExported: spans }
}

// ---------- 1b ----------
type InRoute = {
  route: string
  noSpineUs: number
  spineUs: number
  spineCostUs: number
  spineCostPct: number
  diffIqr: [number, number]
  samples: Record<string, number[]>
}
type InProcess = { batch: number; rounds: number; routes: InRoute[] }

// ---------- run ----------
interface RunMeta {
  began: number
  totalS: number
  loadStart: number[]
  loadEnd: number[]
  loadSamples: number[]
  commit: string
  uncommitted: boolean
  command: string
  /** The machine and packages the figures were measured on, recorded when they were measured (a re-render elsewhere must not describe its own machine). */
  machine?: Machine
}
interface Machine {
  cpuModel: string
  cores: number
  parallelism: number
  memoryGiB: number
  os: string
  node: string
  packages: Record<string, string>
}
const PACKAGES = [
  "hono",
  "@hono/node-server",
  "better-sqlite3",
  "zod",
  "tsx",
  "autocannon",
  "@opentelemetry/sdk-trace-node",
  "@opentelemetry/instrumentation-http",
]
function thisMachine(): Machine {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model ?? "?",
    cores: cpus.length,
    parallelism: os.availableParallelism(),
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    packages: Object.fromEntries(PACKAGES.map((name) => [name, version(name)])),
  }
}
const results: Record<string, unknown> = {}
const errors: Record<string, string> = {}
let meta: RunMeta
async function part(name: string, fn: () => Promise<unknown>) {
  if (!want(name)) return
  log(`${name}...`)
  try {
    results[name] = await fn()
  } catch (err) {
    errors[name] = err instanceof Error ? err.message : String(err)
    log(`${name} FAILED: ${errors[name]}`)
  }
}
if (renderOnly) {
  // BENCH_RENDER=1: BENCHMARKS.md again from the last run's figures (after findings.md was edited); nothing is measured.
  const last = JSON.parse(readFileSync(path.join(BENCH_DIR, "last-run.json"), "utf8")) as {
    results: Record<string, unknown>
    errors: Record<string, string>
    meta: RunMeta
  }
  Object.assign(results, last.results)
  Object.assign(errors, last.errors)
  meta = last.meta
} else {
  const command = [
    "npm run bench",
    ...Object.entries(process.env)
      .filter(([k]) => k.startsWith("BENCH_") || k === "OPENCODE_REFERENCE_BIN")
      .map(([k, v]) => `${k}=${v}`),
  ]
  const commit = git("rev-parse --short HEAD")
  const uncommitted = git("status --porcelain -- packages") !== ""
  await part("overhead", overhead)
  // 1b in three processes: one process's figure moves with its JIT's choices by more than the
  // target's margin (0.8–2.9 µs between processes on this machine), so the median of three decides.
  await part("inprocess", async () => {
    const processes: InProcess[] = []
    for (let i = 0; i < 3; i++) processes.push(await runPart<InProcess>("in-process.ts"))
    return { processes }
  })
  await part("lifecycle", () => runPart("lifecycle.ts"))
  await part("sse", () => runPart("sse-fanout.ts"))
  await part("export", () => runPart("export.ts", { nodeArgs: ["--expose-gc"] }))
  await part("hold", () => runPart("route-hold.ts"))
  await part("explain", () => runPart("explain.ts", { timeoutMs: 1_200_000 }))
  await part("memory", () => runPart("memory.ts", { nodeArgs: ["--expose-gc"] }))
  await part("crash", () => runPart("crash-scan.ts"))
  await part("opencode", () => runPart("opencode-compare.ts", { timeoutMs: 1_800_000 }))
  meta = {
    began,
    totalS: Math.round((Date.now() - began) / 1000),
    loadStart,
    loadEnd: os.loadavg(),
    loadSamples,
    commit,
    uncommitted,
    command: command.join(" "),
    machine: thisMachine(),
  }
}
if (only && !renderOnly) {
  // BENCHMARKS.md says every figure comes from one run: a run of some parts leaves it and
  // last-run.json alone and keeps its figures beside them.
  writeFileSync(path.join(BENCH_DIR, "partial-run.json"), JSON.stringify({ results, errors, meta }, null, 2) + "\n")
  log(`done in ${meta.totalS}s; BENCH_ONLY: figures in bench/partial-run.json, BENCHMARKS.md unchanged`)
} else {
  if (!renderOnly)
    writeFileSync(path.join(BENCH_DIR, "last-run.json"), JSON.stringify({ results, errors, meta }, null, 2) + "\n")
  writeFileSync(path.join(ROOT, "BENCHMARKS.md"), render())
  log(`${renderOnly ? "rendered from bench/last-run.json" : `done in ${meta.totalS}s`}; wrote BENCHMARKS.md`)
}

// ---------- report ----------
function version(pkg: string): string {
  try {
    return (
      JSON.parse(readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }
    ).version
  } catch {
    return "?"
  }
}
function git(cmd: string): string {
  try {
    return execSync(`git ${cmd}`, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return "?"
  }
}
function pct(n: number): string {
  return `${n >= 0 ? "" : "−"}${Math.abs(round(n, 1))} %`
}

function render(): string {
  const machine = meta.machine
  const cores = machine?.cores ?? 0
  const lines: string[] = []
  const add = (...l: string[]) => lines.push(...l)
  add(
    "# Benchmarks",
    "",
    "Written by `npm run bench` (`bench/run.ts`); every figure below comes from one run on one machine.",
    "Ratios compare cases measured in the same run. Re-run `npm run bench` to refresh this file",
    "(`bench/last-run.json` keeps the raw samples; `BENCH_RENDER=1 npm run bench` rewrites this file from them, measuring",
    "nothing). Not part of `npm test`.",
    "",
    "## Machine",
    "",
    `- command: \`${meta.command}\``,
    `- date: ${new Date(meta.began).toISOString()} (whole run: ${meta.totalS} s)`,
    machine
      ? `- cpu: ${machine.cpuModel}, ${machine.cores} cores (\`nproc\`: ${machine.parallelism}); memory ${machine.memoryGiB} GiB; ${machine.os}`
      : "- cpu, memory, OS, Node and packages: not recorded by the run these figures come from",
    `- ${machine ? `node ${machine.node}; ` : ""}load average at start ${meta.loadStart.map((n) => round(n, 2)).join(" / ")}, at end ${meta.loadEnd.map((n) => round(n, 2)).join(" / ")}`,
    ...(meta.loadSamples.length
      ? [
          `- 1-minute load average through the run (every 5 s, ${meta.loadSamples.length} samples): median ${round(median(meta.loadSamples), 2)}, lowest ${round(Math.min(...meta.loadSamples), 2)}, highest ${round(Math.max(...meta.loadSamples), 2)}${cores ? `, ${Math.round((100 * meta.loadSamples.filter((n) => n > cores).length) / meta.loadSamples.length)} % of samples above the core count` : ""}. The benchmark's own processes count in it (a server and its load generator: about 1–2); above about ${cores || "the core count"}, other processes were competing for the cores: absolute times and CPU per request are inflated and noisier, ratios measured side by side less so.`,
        ]
      : []),
    `- commit ${meta.commit}${meta.uncommitted ? " (with uncommitted changes in packages/: the working tree is shared with other work in progress)" : ""}`,
    ...(machine
      ? [
          `- packages: ${Object.entries(machine.packages)
            .map(([name, v]) => `${name} ${v}`)
            .join(", ")}`,
        ]
      : []),
    "",
  )
  for (const [name, message] of Object.entries(errors)) add(`**${name} failed in this run:** ${message}`, "")

  const o = results.overhead as Awaited<ReturnType<typeof overhead>> | undefined
  if (o) {
    add(
      "## 1. Request overhead",
      "",
      `autocannon, ${o.connections} connections on loopback, ${o.warmup} s warm-up + ${o.duration} s measured per case, ${o.rounds} rounds with the`,
      "order reversed every round; each server is its own process (the real host and `createServerApp`).",
      "Variants (each its own server process): `no_spine` is `composeServerApp(host, options, [])`, the app without the request hop (no request-context",
      "middleware, no request journal); `no_spine_als` is the same with Node's AsyncLocalStorage switched on: what keeping the",
      "request in ambient context would cost on Node 20 (the spine did until commit 7a6b830; OTel's context manager does), shown",
      "for comparison only, the spine no longer uses it; `spine` is the real app; `otel` is `no_spine` and `spine_otel` the real app,",
      "each under OpenTelemetry's Node HTTP auto-instrumentation (`@opentelemetry/instrumentation-http`, `NodeTracerProvider`,",
      "`BatchSpanProcessor` to an exporter that counts and drops spans, registered with `--import` before `http` loads;",
      `${o.otelSpansExported ?? "?"} spans exported in the run); \`spine_export\` is the real app with trace export on`,
      "(`OTEL_EXPORTER_OTLP_ENDPOINT` naming a loopback OTLP receiver in the server's own process, `startServerTracing` wired",
      "as `startServer` wires it): export acts when a run ends, never per request, so this shows what it adds to a request.",
      "",
      "Two measures per case: throughput (requests/s, mean over rounds) and the server process's CPU time per request",
      "(user + system from `/proc/<pid>/stat` over the measured window, median over rounds). The machine was shared with",
      "other work (see the load average above), so one round's throughput swings by tens of percent; CPU per request is",
      "much less sensitive to other processes, and the targets are judged on it. The representative route is `GET /session`",
      "with a directory header (what the app polls), in both states a directory is in: its instance open (every request re-checks",
      "the instance's context) and no instance. `GET /health` does nothing but answer, so it shows the spine's fixed cost per",
      "request against the smallest possible denominator. Separate processes differ by about ±1–2 µs per request on their own",
      "(measured while building this: two `no_spine` processes side by side), which is 2–3 % of `GET /session`.",
      "",
      `| route | CPU µs/request: ${VARIANTS.join(" / ")} | spine cost | spine cost, µs | ambient ALS alone (not used) | OTel alone (otel vs no_spine) | OTel on top of spine | trace export on top of spine (spine_export vs spine) | req/s: ${VARIANTS.join(" / ")} |`,
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...o.table.map(
        (t) =>
          `| ${t.route} | ${VARIANTS.map((v) => t.cpuUs[v] ?? "–").join(" / ")} | ${pct(t.spineCpuCostPct)} | ${round2(t.spineCpuUs)} | ${pct(t.alsCpuCostPct)} | ${pct(t.otelAloneCpuCostPct)} | ${pct(t.otelCpuCostPct)} | ${t.exportCpuCostPct === undefined ? "–" : pct(t.exportCpuCostPct)} | ${VARIANTS.map((v) => t.rps[v] ?? "–").join(" / ")} |`,
      ),
      "",
      "Throughput ratios (same run, noisier): " +
        o.table
          .map(
            (t) =>
              `${t.route}: spine/no_spine ${round(t.spineRatio, 3)}, otel/no_spine ${round(t.otelAloneRatio, 3)}, spine_otel/spine ${round(t.otelRatio, 3)}`,
          )
          .join("; ") +
        ".",
      "",
      "Per round, req/s (CPU µs/request):",
      "",
      ...o.table.map(
        (t) => `- ${t.route}: ${VARIANTS.map((v) => `${v} ${(t.rounds[v] ?? []).join(", ")}`).join("; ")}`,
      ),
      "",
      ...o.table.map(
        (t) =>
          `- ${t.route}${t.representative ? " (the representative route)" : " (not the target's route: the fixed cost against a route that does nothing)"}: spine cost ≤ 3 %: ${pass(t.spineCpuCostPct <= 3)} in this run (${pct(t.spineCpuCostPct)}, ${round2(t.spineCpuUs)} µs${Math.abs(t.spineCpuUs) < 2 ? ": inside the ±2 µs by which separate server processes differ on their own, so this run cannot tell the spine's cost from zero; 1b measures it in one process" : ""}); spine cost < half of OTel's (OTel alone ${pct(t.otelAloneCpuCostPct)}, on top of the spine ${pct(t.otelCpuCostPct)}): ${pass(t.spineCpuCostPct < t.otelAloneCpuCostPct / 2)} against OTel alone, ${pass(t.spineCpuCostPct < t.otelCpuCostPct / 2)} against OTel on top of the spine.`,
      ),
      "",
    )
  }
  const ip = results.inprocess as { processes: InProcess[] } | undefined
  if (ip && ip.processes.length > 0) {
    const first = ip.processes[0]!
    const routeNames = first.routes.map((r) => r.route)
    const decidingRoute = routeNames.includes("GET /health") ? "GET /health" : routeNames[0]!
    const figure = (name: string) =>
      median(ip.processes.map((p) => p.routes.find((r) => r.route === name)!.spineCostUs))
    const decides = round2(figure(decidingRoute))
    add(
      "### 1b. The hop's own code, in one process",
      "",
      "`bench/in-process.ts`: the real app with and without the spine in one process (shared JIT state and heap), each behind",
      "@hono/node-server's own request listener (what `serve` installs), handed a fresh Node `IncomingMessage`/`ServerResponse`",
      "pair per request: the response is written as on a server (`writeHead` merges the spine's `x-opencode-request-id` into",
      "the head; the body stays buffered on the response, no socket). So the figure is the middleware's JavaScript and Node's",
      `cost of one more response header, without the kernel. ${first.rounds} rounds of ${first.batch} requests per app, back to back in alternating`,
      "order; a process's figure is the median of the paired differences (each spine batch against the no_spine batch beside",
      "it), so load from other processes that lasts longer than a pair cancels out. One process's figure still moves with its",
      `JIT's choices, so the part runs in ${ip.processes.length} processes and the median of their figures decides. The spine's work does not`,
      "depend on the route; `GET /health` is the smallest request and so the least noisy in µs, and decides; `GET /session`",
      "(instance open) is shown beside it.",
      "",
      "| process | route | CPU µs/request: no_spine / spine (median of batches) | spine cost (median of paired differences) | middle half of the differences |",
      "|---:|---|---:|---:|---:|",
      ...ip.processes.flatMap((p, i) =>
        p.routes.map(
          (r) =>
            `| ${i + 1} | ${r.route} | ${r.noSpineUs} / ${r.spineUs} | ${r.spineCostUs} µs (${pct(r.spineCostPct)}) | ${r.diffIqr[0]} … ${r.diffIqr[1]} µs |`,
        ),
      ),
      "",
      `Median over the processes: ${routeNames.map((name) => `${name} **${round2(figure(name))} µs**`).join(", ")}.`,
      "",
      `Target spine cost ≤ 2 µs per request, response header included (${decidingRoute}, median of the ${ip.processes.length} processes): ${pass(decides <= 2)} (${decides} µs; the processes: ${ip.processes.map((p) => p.routes.find((r) => r.route === decidingRoute)!.spineCostUs).join(", ")} µs).`,
      "",
    )
  }
  type Leg = { samples: number; p50: number; p95: number; max: number }
  const l = results.lifecycle as
    | {
        samples: number
        activeAtStart: number
        activeBefore: number[]
        activeAtEnd: number
        p50: number
        p95: number
        max: number
        responseP50: number
        responseP95: number
        sseLeg?: Leg
        echoLeg?: Leg
        echoAtPublishLeg?: Leg
        framesAheadP50?: number
        bytesAheadP50?: number
      }
    | undefined
  if (l) {
    add(
      "## 2. Lifecycle event latency",
      "",
      "The real server (`startServer`) in its own process, 100 active `scripted/slow` runs (100 sessions over 10",
      "directories, 1 s tick). Each sample sends `POST /instance/reload` for one directory (closing its 10 runs: journal,",
      "abort, settle, reopen) and times until that action's `lifecycle.action.finished` arrives at an SSE client on `/event`;",
      "the directory's 10 runs are then restarted, so every reload sees 100 active runs",
      `(active runs checked: ${l.activeAtStart} at start, ${l.activeAtEnd} at the end, and before every tenth reload: ${l.activeBefore.every((n) => n === l.activeAtStart) ? `${l.activeBefore.length} times ${l.activeAtStart}` : l.activeBefore.join(", ")}).`,
      "",
      "| samples | p50 | p95 | max | reload response p50 / p95 |",
      "|---:|---:|---:|---:|---:|",
      `| ${l.samples} | ${l.p50} ms | ${l.p95} ms | ${l.max} ms | ${l.responseP50} / ${l.responseP95} ms |`,
      "",
      `Target p95 ≤ 50 ms: ${pass(l.p95 <= 50)}.`,
      "",
    )
    if (l.sseLeg && l.echoLeg) {
      const ratio = l.sseLeg.p50 / l.echoLeg.p50
      const same = l.echoAtPublishLeg
      add(
        "**The SSE leg alone.** From the moment the server publishes `lifecycle.action.finished` on its bus (stamped by a bus",
        "subscriber registered before any client) to its arrival at the SSE client, against a bare SSE echo in the same server",
        "process (a plain `node:http` stream written straight to its socket, read by the same client process). The echo is",
        'timed twice: a frame written on its own after each reload has finished ("quiet": the target\'s yardstick), and a frame',
        'written by that same bus subscriber at the moment the event is published ("at publish": the echo under the load the',
        "event meets, the close's own work on the server and the reload's answer at the client). Both under 100 streaming runs;",
        "times are wall-clock with sub-ms precision on one machine.",
        "",
        "| leg | samples | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
        `| \`lifecycle.action.finished\` on \`/event\` | ${l.sseLeg.samples} | ${l.sseLeg.p50} ms | ${l.sseLeg.p95} ms | ${l.sseLeg.max} ms |`,
        `| bare SSE echo, quiet | ${l.echoLeg.samples} | ${l.echoLeg.p50} ms | ${l.echoLeg.p95} ms | ${l.echoLeg.max} ms |`,
        ...(same
          ? [`| bare SSE echo, at publish | ${same.samples} | ${same.p50} ms | ${same.p95} ms | ${same.max} ms |`]
          : []),
        "",
        `Target SSE leg ≤ 2× the bare echo (p50, against the quiet echo): ${pass(ratio <= 2)} (${round(ratio, 2)}×; p95 ${round(l.sseLeg.p95 / l.echoLeg.p95, 2)}×).` +
          (same
            ? ` Against the echo written at the moment of publishing: ${round(l.sseLeg.p50 / same.p50, 2)}× (p95 ${round(l.sseLeg.p95 / same.p95, 2)}×).`
            : "") +
          (l.framesAheadP50 !== undefined
            ? ` Between sending the reload and receiving its finished event the client received ${l.framesAheadP50} other frames${l.bytesAheadP50 !== undefined ? ` (${round(l.bytesAheadP50 / 1024, 1)} K characters)` : ""} (median): the events of the closes (each run's abort, messages, status, summary) are queued ahead of it on the same stream.`
            : ""),
        "",
      )
    }
  }
  add(...renderSse(results.sse as SseFanoutResult | undefined))
  const e = results.export as
    | {
        messages: number
        runs: number
        records: number
        journalRows: number
        requestRows: number
        exportMs: number
        exportRuns: number[]
        foreignExportMs: number
        foreignExportRuns: number[]
        stringifyMs: number
        routeMs?: number
        routeRuns?: number[]
        routeUsPerRecord?: number
        routeVsStringify?: number
        streamMs?: number
        streamRuns?: number[]
        streamUsPerRecord?: number
        streamVsStringify?: number
        firstByteMs?: number
        firstByteRuns?: number[]
        holdMs?: number
        holdRuns?: number[]
        floorMs?: number
        floorRuns?: number[]
        floorRows?: number
        floorUsPerRecord?: number
        memory?: Record<
          "stream" | "built" | "floor",
          { bytes: number; baselineMB: number; peakMB: number; aboveBaselineMB: number }
        >
        exportBytes: number
        truncated: Record<string, { kept: number; dropped: number }>
        deriveRecords: number
        deriveMs: number
        deriveChains: number
        exportUsPerRecord: number
        deriveUsPerRecord: number
        recordsPerRun: number
      }[]
    | undefined
  if (e) {
    const at10k = e.find((r) => r.messages === 10_000)
    add(
      "## 3. Export and incident derivation",
      "",
      `One session seeded through \`SessionStore\`/\`Journal\` in a temp data dir: per run, two messages (each with a text part) and`,
      `${e[0]?.recordsPerRun ?? 10} diagnostic records cloned from a real reload-interrupted run (its summary; run.started, visible_output, finished;`,
      "lifecycle started/finished; abort_requested; the prompt and reload requests; the renderer action), i.e. 5 per message.",
      "The journal keeps at most 20 000 request rows (it prunes older ones), so the largest size holds fewer requests.",
      '`buildSessionExport(…, "full")` is timed (median, after a warm-up) without serialising, twice: as the server that wrote',
      "the records reads them (its boot row names this build's record format, so they are not re-validated), and with the",
      "boot marked as another build's (every record parsed through its schema: a database carried across versions).",
      "`deriveIncidentChains` is timed on its own over every run, lifecycle, request and renderer record of the session (no caps).",
      '"build + `JSON.stringify`" is what `GET /session/:id/export` did per call before it streamed: the document built whole, then',
      "its whole text. It and `JSON.stringify` of the same document are timed in pairs, back to back with the order swapped every",
      "pair; the ratio is the median of the pairs' ratios. Garbage is collected before every timed call (`--expose-gc`), so each",
      "call pays for its own garbage and not the previous one's. The streamed route (the next table) decides the targets.",
      '"records in DB" counts every journal row of the session and its run summaries, including kinds the export never reads',
      "(run.started, visible_output, run.finished, abort_requested).",
      "",
      "| messages | records in DB | request rows | build + `JSON.stringify` (the route before streaming) | µs / record | / JSON.stringify | export (build only) | µs / record | export, another build's records | JSON.stringify | export size | truncated | derive (records) | derive µs / record |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
      ...e.map(
        (r) =>
          `| ${r.messages} | ${r.records} | ${r.requestRows} | ${r.routeMs ?? "—"} ms (${r.routeRuns?.join(", ") ?? ""}) | ${r.routeUsPerRecord ?? "—"} | ${r.routeVsStringify ?? "—"}× | ${r.exportMs} ms (min ${Math.min(...r.exportRuns)}; ${r.exportRuns.join(", ")}) | ${r.exportUsPerRecord} | ${r.foreignExportMs} ms (${r.foreignExportRuns.join(", ")}) | ${r.stringifyMs} ms | ${round(r.exportBytes / 1024 / 1024, 1)} MB | ${
            Object.entries(r.truncated)
              .map(([k, v]) => `${k}: ${v.kept} kept, ${v.dropped} dropped`)
              .join("; ") || "—"
          } | ${r.deriveMs} ms (${r.deriveRecords}) | ${r.deriveUsPerRecord} |`,
      ),
      "",
      `Growth: build + \`JSON.stringify\` per record ${e.map((r) => r.routeUsPerRecord).join(" → ")} µs; export (build only) ${e.map((r) => r.exportUsPerRecord).join(" → ")} µs; derivation per record ${e.map((r) => r.deriveUsPerRecord).join(" → ")} µs`,
      `(the record lists are capped at 5 000 and the request log at 20 000 rows, but every run summary is read: incidents come from every record).`,
      at10k
        ? `Target ≤ 300 ms at 10k messages: ${pass(at10k.exportMs <= 300)} (median ${at10k.exportMs} ms, fastest ${Math.min(...at10k.exportRuns)} ms); with another build's records ${pass(at10k.foreignExportMs <= 300)} (median ${at10k.foreignExportMs} ms).`
        : "",
      "",
      "**The route as it is: written as it is read.** `sessionExportText` → `writeJsonText` (what `GET /session/:id/export`",
      "streams through `streamedJson`), in-process, to a destination that keeps up and drops the text; timed in pairs with",
      "`JSON.stringify` of the same document as above. First byte: from the call to the first write handed to the destination",
      "(the head and the first page of messages; the destination then goes away, so nothing more is read), median of 5.",
      "Longest hold: the longest time the event loop waited for a turn while the export was written (a chain of",
      "`setImmediate` marks each turn; median of 3 exports of their own, with the largest). Before the export gave the loop a",
      "turn after each page, the hold was the whole export.",
      "Peak memory: one export in a fresh process (`bench/export-memory.ts`): the real app's `GET /session/:id/export` read to",
      "its end, and, for comparison, the document built whole and its whole text (the route before streaming); the figure is",
      "the process's maximum RSS (`resourceUsage().maxRSS`) less its RSS with the host and app open and garbage collected, so",
      "garbage the collector had not yet reclaimed counts. The floor: the rows the export reads (messages with their parts, the",
      "run summaries, every journal row of the kinds it reads), read from SQLite and dropped, no object built, nothing written;",
      "its memory is the same rows' JSON text written to a web stream read the same way in 64 kB chunks, in a fresh process:",
      "what SQLite, V8 and a stream take with none of the export's work.",
      "",
      "| messages | records in DB | route, streamed | µs / record | / JSON.stringify | first byte | longest hold of the event loop | peak above baseline: streamed | built whole | floor: SQLite reads alone (rows) | floor µs / record | floor peak above baseline |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...e
        .filter((r) => r.streamMs !== undefined)
        .map(
          (r) =>
            `| ${r.messages} | ${r.records} | ${r.streamMs} ms (${r.streamRuns!.join(", ")}) | ${r.streamUsPerRecord} | ${r.streamVsStringify}× | ${r.firstByteMs} ms (${r.firstByteRuns!.join(", ")}) | ${r.holdMs ?? "—"} ms${r.holdRuns ? ` (largest ${Math.max(...r.holdRuns)})` : ""} | ${r.memory?.stream.aboveBaselineMB ?? "—"} MB | ${r.memory?.built.aboveBaselineMB ?? "—"} MB | ${r.floorMs} ms (${r.floorRows}) | ${r.floorUsPerRecord} | ${r.memory?.floor?.aboveBaselineMB ?? "—"} MB |`,
        ),
      "",
      ...(() => {
        const streamed = e.filter((r) => r.streamMs !== undefined)
        if (streamed.length === 0) return []
        const largest = streamed.at(-1)!
        const lines: string[] = []
        if (at10k?.streamVsStringify !== undefined)
          lines.push(
            `Target route ≤ 2× \`JSON.stringify\` of the same document at 10k messages: ${pass(at10k.streamVsStringify <= 2)} (${at10k.streamVsStringify}×, median of the pairs; medians ${at10k.streamMs} ms against ${at10k.stringifyMs} ms; the floor alone is ${round(at10k.floorMs! / at10k.stringifyMs, 2)}× of it).`,
          )
        if (streamed.length > 1) {
          const per = streamed.map((r) => r.streamUsPerRecord!)
          const spread = per.at(-1)! / per[0]!
          lines.push(
            `Target per-record route time within 1.25× from ${streamed[0]!.messages} to ${largest.messages} messages (largest size against smallest): ${pass(spread <= 1.25)} (${per.join(" → ")} µs, ${round(spread, 2)}×; the floor ${streamed.map((r) => r.floorUsPerRecord).join(" → ")} µs).`,
          )
        }
        if (largest.memory)
          lines.push(
            `Target peak memory of one export of the ${largest.messages}-message session ≤ 64 MB above the baseline: ${pass(largest.memory.stream.aboveBaselineMB <= 64)} (${largest.memory.stream.aboveBaselineMB} MB streamed; ${largest.memory.built.aboveBaselineMB} MB built whole; the document is ${round(largest.exportBytes / 1024 / 1024, 1)} MB; the floor's rows through a stream alone ${largest.memory.floor?.aboveBaselineMB ?? "—"} MB).`,
          )
        lines.push(
          `Target first byte of the ${largest.messages}-message export ≤ 100 ms: ${pass(largest.firstByteMs! <= 100)} (median ${largest.firstByteMs} ms).`,
        )
        return lines
      })(),
      "",
    )
  }
  if (results.explain) add(...renderExplain(results.explain))
  if (results.hold) add(...renderHold(results.hold))
  const m = results.memory as
    | {
        requests: number
        target: number
        seconds: number
        requestsPerSecond: number
        baselineRssMb: number
        endRssMb: number
        growthMb: number
        maxGrowthMb: number
        points: { requests: number; rssMb: number; heapMb: number; growthMb: number }[]
        journalRequestRows: number
      }
    | undefined
  if (m) {
    const half = m.points.filter((p) => p.requests > m.requests / 2)
    add(
      "## 4. Memory",
      "",
      "In-process `app.fetch` through the real app (request-context middleware, request journal, event bus), GC forced",
      "(`--expose-gc`) before the baseline (after a 20 000-request warm-up) and at each checkpoint. Mix per 10 requests: 7 ×",
      "`GET /session` with a directory header, 1 × the same from the app with action id and traceparent, 1 × `GET /health`,",
      "1 × `POST /session/:id/abort` from the app (journalled, so the request log fills and prunes).",
      "",
      `- requests: ${m.requests}${m.requests < m.target ? ` of the ${m.target} planned (stopped at the time budget; ${m.requestsPerSecond} req/s in-process on this machine)` : ""} in ${m.seconds} s`,
      `- RSS: baseline ${m.baselineRssMb} MB → end ${m.endRssMb} MB: growth ${m.growthMb} MB (largest at any checkpoint ${m.maxGrowthMb} MB); heap after GC ${m.points[0]?.heapMb} → ${m.points.at(-1)?.heapMb} MB`,
      `- second half of the run: RSS ${Math.min(...half.map((p) => p.rssMb))}–${Math.max(...half.map((p) => p.rssMb))} MB, heap ${Math.min(...half.map((p) => p.heapMb))}–${Math.max(...half.map((p) => p.heapMb))} MB; request rows in the journal at the end: ${m.journalRequestRows}`,
      `- checkpoints (requests: RSS MB / heap MB): ${m.points.map((p) => `${p.requests / 1000}k: ${p.rssMb} / ${p.heapMb}`).join(", ")}`,
      "",
      `Target growth ≤ 20 MB: ${pass(m.maxGrowthMb <= 20)}.`,
      "",
    )
  }
  type CrashResult = {
    runs: number
    evidence: number
    possibleCauses: number
    ms: number
    runsMs: number[]
    cpuMs?: number
    runsCpuMs?: number[]
  }
  type CrashFloor = { journalRows: number; runRows: number; ms: number; runsMs: number[]; cpuMs: number }
  const c = results.crash as { history: CrashResult; allCrashed: CrashResult; allCrashedFloor?: CrashFloor } | undefined
  if (c) {
    const line = (r: CrashResult) =>
      `median ${r.ms} ms wall${r.cpuMs !== undefined ? `, ${r.cpuMs} ms CPU` : ""}, fastest ${Math.min(...r.runsMs)} ms (${r.runsMs.join(", ")} ms); ${r.evidence} crash records, ${r.possibleCauses} with a possible cause`
    const floor = c.allCrashedFloor
    add(
      "## 5. Startup crash scan",
      "",
      "`scanForCrashes` on a database seeded once and copied before each timed scan (the scan writes its evidence), so every",
      "scan sees the same input; the owning boot is gone (process exited, no lock file, stale heartbeat). For each run left",
      "unfinished it writes, in one transaction with its reads, a `crash.detected` row and the run's summary. Wall time is what",
      "a starting server waits; CPU time (the process's, over the synchronous scan) is what other load on the machine inflates",
      "least. The verdicts are read from the wall time.",
      "",
      `- **${c.history.runs} journalled runs** (the common case): a server ran ${c.history.runs - c.history.evidence} runs to completion (their rows, summaries,`,
      `  a reload every tenth run) and was killed with ${c.history.evidence} active, a few under a reload that never finished: ${line(c.history)}.`,
      `- **${c.allCrashed.runs} runs all left unfinished** (the worst case): ${line(c.allCrashed)}; about`,
      `  ${round((c.allCrashed.ms * 1000) / c.allCrashed.evidence, 1)} µs per crashed run.`,
      ...(floor
        ? [
            `- **The floor under the worst case**: SQLite alone making the scan's reads and writing the same ${floor.journalRows} journal rows and`,
            `  ${floor.runRows} run updates with bare prepared statements in one transaction, none of the scan's logic: median ${floor.ms} ms wall,`,
            `  ${floor.cpuMs} ms CPU (${floor.runsMs.join(", ")} ms); the scan is ${round(c.allCrashed.ms / floor.ms, 2)}× it in wall time${c.allCrashed.cpuMs !== undefined ? `, ${round(c.allCrashed.cpuMs / floor.cpuMs, 2)}× in CPU` : ""}.`,
          ]
        : []),
      "",
      `Target ≤ 50 ms over ${c.history.runs} journalled runs: ${pass(c.history.ms <= 50)} (${c.history.ms} ms wall${c.history.cpuMs !== undefined ? `, ${c.history.cpuMs} ms CPU` : ""}). With every one of them left unfinished, ≤ 100 ms: ${pass(c.allCrashed.ms <= 100)} (${c.allCrashed.ms} ms${floor ? `; the writes alone take ${floor.ms} ms, so no scan that writes a journal row and a summary per crashed run can meet it on this machine` : ""}).`,
      "",
    )
  }
  type Side = { rps: number; cpuUs: number; failed: number; rounds: { rps: number; cpuUs: number }[] }
  type PromptSide = { samples: number; p50: number; p95: number; max: number }
  const oc = results.opencode as
    | { skipped: string }
    | {
        version: string
        rows: { route: string; ours: Side; opencode: Side; sessions?: number; rowsAnswered?: Record<string, number> }[]
        prompt: { ours: PromptSide; opencode: PromptSide }
        stubRequests: number
      }
    | undefined
  if (oc) {
    add("## 6. Against opencode", "")
    if ("skipped" in oc) add(`Skipped in this run: ${oc.skipped}.`, "")
    else {
      const ahead = (r: { ours: Side; opencode: Side }) =>
        r.ours.cpuUs < r.opencode.cpuUs && r.ours.rps > r.opencode.rps && r.ours.failed === 0
      add(
        `opencode ${oc.version} (\`opencode-ai\` from npm, installed into \`bench/.cache/opencode\` when this part first runs) and this server, each`,
        "as its real command (`opencode serve`, `node packages/opencode/bin/opencode.mjs serve`) in its own process on loopback, one project",
        "directory each. Same routes, same load: autocannon, 10 connections, the order of the two servers reversed every round; CPU",
        "per request is the server process's user + system time over the measured window (median over rounds), throughput the mean.",
        "Sessions are created through `POST /session`; at 1 000 sessions each server answers its default page (rows answered below).",
        "",
        "| route | CPU µs/request: ours / opencode | ratio | req/s: ours / opencode | ratio | rows answered | ahead of opencode |",
        "|---|---:|---:|---:|---:|---:|---|",
        ...oc.rows.map(
          (r) =>
            `| ${r.route} | ${r.ours.cpuUs} / ${r.opencode.cpuUs} | ${round(r.ours.cpuUs / r.opencode.cpuUs, 2)}× | ${r.ours.rps} / ${r.opencode.rps} | ${round(r.ours.rps / r.opencode.rps, 2)}× | ${r.rowsAnswered ? `${r.rowsAnswered.ours} / ${r.rowsAnswered.opencode}` : "—"} | ${ahead(r) ? "yes" : "**no**"}${r.ours.failed || r.opencode.failed ? ` (failed requests: ours ${r.ours.failed}, opencode ${r.opencode.failed})` : ""} |`,
        ),
        "",
        "Per round, req/s (CPU µs/request): " +
          oc.rows
            .map(
              (r) =>
                `${r.route}: ours ${r.ours.rounds.map((x) => `${x.rps} (${x.cpuUs})`).join(", ")}; opencode ${r.opencode.rounds.map((x) => `${x.rps} (${x.cpuUs})`).join(", ")}`,
            )
            .join(". ") +
          ".",
        "",
        "**Prompt → first streamed part at an SSE client.** Both servers on one loopback OpenAI-compatible stub that streams its",
        "first token at once (ours through `OPENAI_BASE_URL`, opencode through a provider in `OPENCODE_CONFIG_CONTENT`). An SSE",
        "client on each server's `/event` stays connected; each sample sends `POST /session/:id/prompt_async` (opencode's body:",
        "`parts` and `model`) and times until the event carrying the stub's first token for that session arrives; the run is let",
        `finish (idle) before the next sample, the servers alternate, 3 warm-up prompts each are left out (${oc.stubRequests} completions reached the stub).`,
        "",
        "| server | samples | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
        `| ours | ${oc.prompt.ours.samples} | ${oc.prompt.ours.p50} ms | ${oc.prompt.ours.p95} ms | ${oc.prompt.ours.max} ms |`,
        `| opencode | ${oc.prompt.opencode.samples} | ${oc.prompt.opencode.p50} ms | ${oc.prompt.opencode.p95} ms | ${oc.prompt.opencode.max} ms |`,
        "",
        `Target ahead of opencode on every row: ${oc.rows.map((r) => `${r.route} ${pass(ahead(r))}`).join("; ")}; prompt → first part ${pass(oc.prompt.ours.p50 < oc.prompt.opencode.p50 && oc.prompt.ours.p95 < oc.prompt.opencode.p95)} (p50 ${round(oc.prompt.ours.p50 / oc.prompt.opencode.p50, 2)}×, p95 ${round(oc.prompt.ours.p95 / oc.prompt.opencode.p95, 2)}× opencode's).`,
        "",
      )
    }
  }
  try {
    add(readFileSync(path.join(BENCH_DIR, "findings.md"), "utf8").trimEnd(), "")
  } catch {
    // findings.md is optional
  }
  return lines.join("\n")
}
