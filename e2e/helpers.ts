/**
 * Shared steps of the interrupt scenarios: drive a run from the UI, open the incident panel from
 * the suspended-run banner, read what it shows, and download the panel's export.
 */
import type { Locator, Page } from "@playwright/test"
import { readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { expect } from "./fixtures"

/** The app's data-testids (packages/app/README.md). */
export const ui = {
  projectDir: "project-dir-input",
  projectOpen: "project-open-button",
  newSession: "new-session-button",
  sessionItem: "session-item",
  modelSelect: "model-select",
  promptInput: "prompt-textarea",
  promptSend: "send-button",
  stop: "stop-button",
  partText: "part-text",
  partTool: "part-tool",
  reload: "reload-button",
  dispose: "dispose-button",
  disposeAll: "dispose-all-button",
  gitInit: "git-init-button",
  actionStatus: "action-status",
  configText: "config-textarea",
  configSave: "config-save-button",
  banner: "suspended-banner",
  bannerText: "suspended-banner-text",
  bannerButton: "suspended-banner-button",
  panel: "incident-panel",
  panelHeadline: "panel-headline",
  panelVerdict: "panel-verdict",
  missingField: "missing-field",
  hop: "hop",
  alsoRequested: "also-requested",
  retry: "retry-statement",
  exportButton: "export-button",
  timeline: "timeline-svg",
} as const

/** The model every scenario interrupts unless it needs another one. */
export const SLOW = "scripted/slow"

/**
 * The scripted tick (`scriptedTickMs`) of the specs that interrupt runs: at 250 ms a step a
 * `slow` run lasts about 15 s, time enough on a loaded CI machine for the steps a test takes while
 * the run is still going. Nothing waits for a run to end on its own, so the tick costs no time.
 */
export const RUN_TICK_MS = "250"

/** Opens the app at the picker and selects `dir` as the project (lands on the session list). */
export async function openProject(page: Page, baseUrl: string, dir: string): Promise<void> {
  if (!page.url().startsWith(baseUrl)) await page.goto(baseUrl + "/")
  else await page.getByRole("link", { name: "opencode" }).click()
  const input = page.getByTestId(ui.projectDir)
  await input.fill(dir)
  await page.getByTestId(ui.projectOpen).click()
  await expect(page.getByTestId(ui.newSession)).toBeVisible()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible()
}

/** New session → model → send; waits until the run's output is visible. Returns the session id. */
export async function startRun(
  page: Page,
  model: string = SLOW,
  text = "Work slowly, please.",
  options: { waitRunning?: boolean } = {},
): Promise<string> {
  await page.getByTestId(ui.newSession).click()
  await page.waitForURL(/\/app\/session\//)
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!)
  await page.getByTestId(ui.modelSelect).selectOption(model)
  await page.getByTestId(ui.promptInput).fill(text)
  await page.getByTestId(ui.promptSend).click()
  await expect(page.getByText(text).first()).toBeVisible()
  await expect(page.getByTestId(ui.partText).first()).toBeVisible()
  // The run is still going (a stalled run may already have been stopped by the watchdog).
  if (options.waitRunning !== false) await expect(page.getByText("A run is in progress.")).toBeVisible()
  return id
}

/**
 * The user presses Stop, and the app sends the abort. The button is pressed from the keyboard: the
 * prompt form sits below the streaming output and moves down with every part, so a pointer click
 * aimed where the button was can land beside it (seen in CI: the click "done", no abort sent).
 */
export async function pressStop(page: Page): Promise<void> {
  const aborted = page.waitForResponse(
    (res) => res.request().method() === "POST" && new URL(res.url()).pathname.endsWith("/abort"),
  )
  await page.getByTestId(ui.stop).press("Enter")
  expect((await aborted).ok()).toBe(true)
}

/** Waits for the suspended-run banner, opens the panel from it and waits for the verdict. */
export async function openPanelFromBanner(page: Page, classification: string): Promise<Locator> {
  const banner = page.getByTestId(ui.banner)
  await expect(banner).toBeVisible()
  await expect(banner).toHaveAttribute("data-classification", classification)
  await page.getByTestId(ui.bannerButton).click()
  const panel = page.getByTestId(ui.panel)
  await expect(panel.getByTestId(ui.panelVerdict)).toBeVisible()
  return panel
}

export interface PanelExpectation {
  verdict: string
  /** The headline, in words ("Stopped: you clicked Reload project at 08:18:21, …"). */
  headline?: string | RegExp
  /** The lifecycle operations on the chain, root first, joined by ">" ("dispose_all>dispose_directory"); "" for none. */
  operationPath?: string
  /** The missing fields, exactly (order-insensitive), by their data-field. */
  missing?: string[]
  /** hop name → status for hops that must be shown with that status. */
  hops?: Record<string, string>
  /** data-safe of the retry statement. */
  retry?: "true" | "false" | "unknown"
}

/** Tokens of the spine that must never be what a person reads (the app's glossary maps them to words). */
export const INTERNAL_TOKENS = [
  "dispose_directory",
  "dispose_all",
  "load_reload",
  "renderer_action",
  "interrupt_meta",
  "run_summary",
  "lifecycle_action",
  "from a plain client",
  "api_route",
  "config_invalidation",
  "context_mismatch",
  "not_applicable",
  "local_instance_",
  "process_exit_without_finalizer",
]

/**
 * Asserts what the panel shows: the headline in words, the evidence badge, the operations, the
 * missing facts, the hops, the retry advice; and that the words a person reads carry no ids or
 * internal tokens (those live behind the "Ids and technical details" disclosure).
 */
export async function expectPanel(panel: Locator, want: PanelExpectation): Promise<void> {
  await expect(panel.getByTestId(ui.panelVerdict)).toHaveAttribute("data-verdict", want.verdict)
  const headline = panel.getByTestId(ui.panelHeadline)
  if (want.headline) await expect(headline).toHaveText(want.headline)
  if (want.operationPath !== undefined) {
    if (want.operationPath === "") await expect(panel).not.toHaveAttribute("data-operation-path", /./)
    else await expect(panel).toHaveAttribute("data-operation-path", want.operationPath)
  }
  if (want.missing) {
    const fields = panel.getByTestId(ui.missingField)
    await expect(fields).toHaveCount(want.missing.length)
    const shown = await fields.evaluateAll((els) => els.map((el) => el.getAttribute("data-field") ?? ""))
    expect(shown.sort()).toEqual([...want.missing].sort())
  }
  for (const [hop, status] of Object.entries(want.hops ?? {})) {
    await expect(panel.locator(`[data-testid="hop"][data-hop="${hop}"]`)).toHaveAttribute("data-status", status)
  }
  if (want.retry) await expect(panel.getByTestId(ui.retry)).toHaveAttribute("data-safe", want.retry)
  // What a person reads: the panel without its collapsed disclosures.
  const readable = await panel.evaluate((el) => {
    const copy = el.cloneNode(true) as HTMLElement
    copy.querySelectorAll("details, svg").forEach((node) => node.remove())
    return copy.textContent ?? ""
  })
  for (const token of INTERNAL_TOKENS) expect(readable, `the panel's words contain ${token}`).not.toContain(token)
  expect(readable).not.toMatch(/\b(lc|req|act|run)_[A-Za-z0-9_-]{6,}/)
  await expectPlainWords(panel.page())
}

/**
 * Everything a person reads on the page (the banner, the status line, the transcript's marker,
 * the session list, the panel), collapsed disclosures and drawings aside, holds no internal token,
 * no record id and no file digest.
 */
export async function expectPlainWords(page: Page): Promise<void> {
  const readable = await page.locator("body").evaluate((el) => {
    const copy = el.cloneNode(true) as HTMLElement
    copy
      .querySelectorAll("details:not([open]), svg, script, style, textarea, [hidden]")
      .forEach((node) => node.remove())
    return copy.textContent ?? ""
  })
  for (const token of INTERNAL_TOKENS) expect(readable, `the page's words contain ${token}`).not.toContain(token)
  expect(readable, "the page's words hold a record id").not.toMatch(/\b(lc|req|act|run)_[A-Za-z0-9_-]{6,}/)
  expect(readable, "the page's words hold a digest").not.toMatch(/\b[0-9a-f]{10,}\b/)
}

/** The in-app confirmation before an action that stops runs: it names how many runs in which directories. */
export async function confirmStops(page: Page, want: { runs: number; directories: string[] }): Promise<void> {
  const dialog = page.getByTestId("confirm-dialog")
  await expect(dialog).toBeVisible()
  const dirs = want.directories.length
  await expect(dialog.getByTestId("confirm-text")).toHaveText(
    `${want.runs} run${want.runs === 1 ? "" : "s"} in ${dirs} director${dirs === 1 ? "y" : "ies"} will stop:`,
  )
  for (const dir of want.directories) await expect(dialog.locator(`li[data-directory="${dir}"]`)).toBeVisible()
  await dialog.getByTestId("confirm-accept").click()
  await expect(dialog).toHaveCount(0)
}

/** The run id the panel explains (kept in an attribute: ids are not what the panel leads with). */
export async function panelRunId(page: Page): Promise<string> {
  const id = await page.getByTestId(ui.panel).getAttribute("data-run-id")
  expect(id).toMatch(/^run_/)
  return id!
}

/** "at 08:18:21, 2.3 s into the run": the headline's time words. */
export const AT = String.raw`at \d\d:\d\d:\d\d, [\d.]+ (ms|s|min [\d.]+ s) into the run`

export interface Incident {
  runId: string
  sessionId: string
  classification: string
  verdict: string
  operation?: string
  rootOperation?: string
  origin: { kind: string; [key: string]: unknown }
  missing: string[]
  links: Array<{ hop: string; status: string; ref?: string }>
  alsoRequestedBy: Array<{
    operation?: string
    kind?: string
    lifecycleId?: string
    seq: number
    [key: string]: unknown
  }>
  retry: { safe: boolean | "unknown"; basis: string[] }
  lifecyclePath?: Array<{ operation: string; lifecycleId: string }>
  [key: string]: unknown
}

export interface ExportDoc {
  schema: string
  version: number
  session: { id: string; title?: string }
  diagnostics: Record<string, unknown[]>
  incidents: Incident[]
}

/** Clicks the panel's Export button and returns the downloaded JSON document. */
export async function downloadExport(page: Page, panel: Locator): Promise<ExportDoc> {
  const [download] = await Promise.all([page.waitForEvent("download"), panel.getByTestId(ui.exportButton).click()])
  const file = await download.path()
  const doc = JSON.parse(readFileSync(file, "utf8")) as ExportDoc
  expect(doc.schema).toBe("opencode.session-export")
  expect(doc.version).toBe(2)
  await expect(panel.getByText("Downloaded.")).toBeVisible()
  return doc
}

export interface IncidentExpectation {
  classification: string
  verdict: string
  operation?: string | undefined
  rootOperation?: string
  originKind: string
  missing?: string[]
  retrySafe?: boolean | "unknown"
  retryBasis?: string[]
}

/** The incident of one run in an export, asserted field by field. */
export function expectIncident(doc: ExportDoc, runId: string | undefined, want: IncidentExpectation): Incident {
  const incidents = runId ? doc.incidents.filter((item) => item.runId === runId) : doc.incidents
  expect(incidents, `incidents of ${runId ?? "the session"}: ${JSON.stringify(doc.incidents)}`).toHaveLength(1)
  const incident = incidents[0]!
  expect(incident.classification).toBe(want.classification)
  expect(incident.verdict).toBe(want.verdict)
  if ("operation" in want) expect(incident.operation).toBe(want.operation)
  if (want.rootOperation) expect(incident.rootOperation).toBe(want.rootOperation)
  expect(incident.origin.kind).toBe(want.originKind)
  if (want.missing) expect([...incident.missing].sort()).toEqual([...want.missing].sort())
  if (want.retrySafe !== undefined) expect(incident.retry.safe).toBe(want.retrySafe)
  for (const basis of want.retryBasis ?? []) expect(incident.retry.basis).toContain(basis)
  return incident
}

/** Run ids of a session, oldest first (read with a plain client: no provenance side effects). */
export async function runsOf(
  fetchServer: (path: string, init?: RequestInit & { directory?: string }) => Promise<Response>,
  sessionId: string,
  dir: string,
): Promise<Array<{ runId: string; status: string; summary?: { classification?: string } }>> {
  const res = await fetchServer(`/session/${sessionId}/run`, { directory: dir })
  expect(res.ok).toBe(true)
  const runs = (await res.json()) as Array<{
    runId: string
    status: string
    startedAt: number
    summary?: { classification?: string }
  }>
  return runs.sort((a, b) => a.startedAt - b.startedAt)
}

export interface RawRequest {
  method: string
  path: string
  headers?: Record<string, string>
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends several requests at the same instant: one connection each, all connected first, then
 * every request written in one tick, so the server reads them together (two `fetch` calls connect
 * one after the other, and the first request can be over before the second arrives).
 */
export async function fireTogether(baseUrl: string, requests: RawRequest[]): Promise<RawResponse[]> {
  const url = new URL(baseUrl)
  const sockets = await Promise.all(
    requests.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: url.hostname, port: Number(url.port) }, () => resolve(socket))
          socket.once("error", reject)
        }),
    ),
  )
  const answers = sockets.map(
    (socket) =>
      new Promise<string>((resolve, reject) => {
        let data = ""
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => (data += chunk))
        socket.once("end", () => resolve(data))
        socket.once("error", reject)
      }),
  )
  requests.forEach((request, i) => {
    const headers = { host: url.host, connection: "close", "content-length": "0", ...request.headers }
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("")
    sockets[i]!.write(`${request.method} ${request.path} HTTP/1.1\r\n${head}\r\n`)
  })
  return (await Promise.all(answers)).map(parseRawResponse)
}

function parseRawResponse(raw: string): RawResponse {
  const split = raw.indexOf("\r\n\r\n")
  const [statusLine, ...lines] = raw.slice(0, split).split("\r\n")
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(":")
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = raw.slice(split + 4)
  if (headers["transfer-encoding"] === "chunked") {
    let out = ""
    for (let rest = body; ;) {
      const eol = rest.indexOf("\r\n")
      const size = parseInt(rest.slice(0, eol), 16)
      if (!size) break
      out += rest.slice(eol + 2, eol + 2 + size)
      rest = rest.slice(eol + 2 + size + 2)
    }
    body = out
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body }
}

/**
 * Counts the page's API requests in flight (the long-lived `/event` stream aside). `quiet()` waits
 * until none has been in flight for two polls in a row: after it, an outside change is noticed by
 * the server's own watcher, not by a refetch the app happened to have under way.
 */
export function trackRequests(page: Page): { quiet(): Promise<void> } {
  const inFlight = new Set<unknown>()
  const api = (url: string) => !new URL(url).pathname.startsWith("/event") && !/\.(js|css|html|svg|ico)$/.test(url)
  page.on("request", (request) => {
    if (api(request.url())) inFlight.add(request)
  })
  const done = (request: unknown) => inFlight.delete(request)
  page.on("requestfinished", done)
  page.on("requestfailed", done)
  return {
    async quiet() {
      let idlePolls = 0
      await expect
        .poll(
          () => {
            idlePolls = inFlight.size === 0 ? idlePolls + 1 : 0
            return idlePolls
          },
          { intervals: [100] },
        )
        .toBeGreaterThanOrEqual(3)
    },
  }
}
