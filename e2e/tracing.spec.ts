/**
 * Trace export end to end: a server exporting to a loopback OTLP/HTTP receiver (JSON), a
 * `scripted/slow` run started from the app, and the app's Reload button. The click's trace
 * reaches the receiver rooted at the click itself: the root span's trace and span ids are the
 * ones the app sent in `traceparent` (and recorded in its action log), the request, the
 * lifecycle.reload and the interrupt spans hang under it, and the run's own trace is linked.
 * Requests outside an action carry no traceparent.
 */
import type { Request } from "@playwright/test"
import { receivedSpans, startReceiver, type Receiver } from "../packages/opencode/test/tracing/otlp-receiver.ts"
import { expect, snap, test } from "./fixtures"
import {
  confirmStops,
  downloadExport,
  openPanelFromBanner,
  openProject,
  panelRunId,
  RUN_TICK_MS,
  startRun,
  ui,
} from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

let receiver: Receiver | undefined
test.afterEach(async () => {
  await receiver?.close()
  receiver = undefined
})

test("a reload clicked in the app reaches the receiver as one trace rooted at the click", async ({
  page,
  spawnServer,
  project,
}, testInfo) => {
  receiver = await startReceiver()
  const server = await spawnServer({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
  })
  const sent: Request[] = []
  page.on("request", (request) => {
    if (request.url().startsWith(server.url) && !new URL(request.url()).pathname.startsWith("/assets"))
      sent.push(request)
  })
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)

  const reloadSent = page.waitForRequest(
    (request) => request.method() === "POST" && new URL(request.url()).pathname === "/instance/reload",
  )
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  const reload = await reloadSent
  const headers = await reload.allHeaders()
  const [version, traceId, clickSpanId, flags] = (headers.traceparent ?? "").split("-")
  expect([version, traceId, clickSpanId, flags]).toEqual([
    "00",
    expect.stringMatching(/^[0-9a-f]{32}$/),
    expect.stringMatching(/^[0-9a-f]{16}$/),
    "01",
  ])
  expect(headers["x-opencode-action-name"]).toBe("instance.reload")

  await expect
    .poll(() =>
      receivedSpans(receiver!).filter((span) => span.traceId === traceId && span.name.startsWith("interrupt")),
    )
    .toHaveLength(1)
  const spans = receivedSpans(receiver)
  const incident = spans.filter((span) => span.traceId === traceId)
  const byId = new Map(incident.map((span) => [span.spanId, span]))
  // One root, and it is the click: the span id the app sent as the request's parent.
  const roots = incident.filter((span) => !span.parentSpanId)
  expect(roots.map((span) => [span.name, span.spanId])).toEqual([["user_action instance.reload", clickSpanId]])
  const interrupt = incident.find((span) => span.name.startsWith("interrupt"))!
  const chain: string[] = []
  for (let span: (typeof spans)[number] | undefined = interrupt; span; span = byId.get(span.parentSpanId))
    chain.unshift(span.name)
  expect(chain).toEqual([
    "user_action instance.reload",
    "POST /instance/reload",
    "lifecycle.reload",
    "interrupt local_instance_reload",
  ])
  expect(incident.find((span) => span.name === "POST /instance/reload")!.parentSpanId).toBe(clickSpanId)
  expect(roots[0]!.attributes).toMatchObject({ "app.action.name": "instance.reload" })
  expect(roots[0]!.attributes).not.toHaveProperty("app.trace.renderer_disagrees")

  // The run's own trace, linked both ways.
  const runSpan = spans.find((span) => span.name === "invoke_agent" && span.links[0]?.traceId === traceId)!
  expect(runSpan.traceId).not.toBe(traceId)
  expect(runSpan.links[0]).toMatchObject({ traceId, spanId: interrupt.spanId })
  expect(interrupt.links[0]).toMatchObject({ traceId: runSpan.traceId, spanId: runSpan.spanId })

  // The renderer record the app uploads names the same trace and root span.
  const panel = await openPanelFromBanner(page, "local_instance_reload")
  expect(runSpan.attributes["app.run.id"]).toBe(await panelRunId(page))
  const doc = await downloadExport(page, panel)
  const click = (doc.diagnostics.renderer as { name: string; traceId?: string; spanId?: string }[]).filter(
    (action) => action.name === "instance.reload",
  )
  expect(click.map((action) => [action.traceId, action.spanId])).toEqual([[traceId, clickSpanId]])

  // Every request of an action carries its trace; a read outside an action carries none.
  const stamped = await Promise.all(sent.map(async (request) => request.allHeaders()))
  const reads = stamped.filter((h) => !h["x-opencode-action-id"])
  expect(reads.length).toBeGreaterThan(0)
  expect(reads.filter((h) => h.traceparent !== undefined)).toEqual([])
  for (const h of stamped.filter((h) => h["x-opencode-action-id"]))
    expect(h.traceparent, h["x-opencode-action-name"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  await snap(page, testInfo, "traced-reload")
})
