/**
 * Interrupt scenarios, one per close path. Each starts a `scripted/slow` run from the UI (project
 * dir → new session → model → send), interrupts it, opens "Why did this run stop?" from the
 * suspended-run banner, checks what the panel says (verdict, operation, initiator, missing
 * fields), downloads the panel's export and checks its incident chain, and saves a screenshot of
 * the panel.
 *
 * Runs use the interrupting specs' tick (`RUN_TICK_MS`): each gets ~15 s to be interrupted in.
 */
import { execFileSync } from "node:child_process"
import { existsSync, writeFileSync } from "node:fs"
import path from "node:path"
import { expect, snap, test } from "./fixtures"
import {
  AT,
  confirmStops,
  downloadExport,
  expectIncident,
  fireTogether,
  expectPanel,
  openPanelFromBanner,
  openProject,
  panelRunId,
  pressStop,
  RUN_TICK_MS,
  runsOf,
  SLOW,
  startRun,
  trackRequests,
  ui,
} from "./helpers"

test.use({ scriptedTickMs: RUN_TICK_MS })

/** The scripted/slow run's last line, as the headline quotes it. */
const SHOWN = String.raw`\((last output shown: “Working on step \d+ of \d+\.”|no output shown yet)\)`

test("1 reload button: diagnosed reload from the app", async ({ page, server, project }, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expect(page.getByTestId(ui.bannerText)).toHaveText(/you requested \(Reload project\)/)
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you clicked Reload project ${AT} ${SHOWN}\\.$`),
    operationPath: "reload",
    missing: [],
    hops: {
      renderer: "present",
      request: "present",
      lifecycle: "present",
      interrupt: "present",
      run_summary: "present",
    },
    retry: "true",
  })
  const runId = await panelRunId(page)
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, runId, {
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    rootOperation: "reload",
    originKind: "api_route",
    missing: [],
    retrySafe: true,
    retryBasis: ["no_side_effects", "visible_output_seen"],
  })
  expect(incident.origin.request).toMatchObject({
    route: "/instance/reload",
    clientKind: "app",
    actionName: "instance.reload",
  })
  await snap(page, testInfo, "panel-reload")
})

test("2 dispose button: diagnosed dispose from the app", async ({ page, server, project }, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await page.getByTestId(ui.dispose).click()
  await confirmStops(page, { runs: 1, directories: [dir] })

  const panel = await openPanelFromBanner(page, "local_instance_dispose")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you clicked Close project ${AT} ${SHOWN}\\.$`),
    operationPath: "dispose",
    missing: [],
    hops: { renderer: "present", request: "present", lifecycle: "present" },
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_dispose",
    verdict: "diagnosed",
    operation: "dispose",
    rootOperation: "dispose",
    originKind: "api_route",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.request).toMatchObject({
    route: "/instance/dispose",
    clientKind: "app",
    actionName: "instance.dispose",
  })
  await snap(page, testInfo, "panel-dispose")
})

// Two runs started one after the other from two tabs must both still be running when Dispose all
// lands, so this scenario's runs last twice as long as the others' (about 30 s): a loaded CI
// machine spent 9.5 s between starting the first run and the dispose (seen at a 100 ms tick: the
// first run had finished on its own before the click).
test.describe("two projects", () => {
  test.use({ scriptedTickMs: String(2 * Number(RUN_TICK_MS)) })

  test("3 dispose all: one action closes the runs of two projects", async ({ page, server, project }, testInfo) => {
    const dirA = project()
    const dirB = project()
    // Two tabs of one browser: each tab keeps its own project (sessionStorage).
    const pageB = await page.context().newPage()
    await openProject(page, server.url, dirA)
    await openProject(pageB, server.url, dirB)
    await startRun(page)
    await startRun(pageB)

    await page.getByTestId(ui.disposeAll).click()
    // The confirmation counts the runs of every project this app knows, not only the selected one's.
    await confirmStops(page, { runs: 2, directories: [dirA, dirB] })

    const lifecycleIds: string[] = []
    for (const [tab, name, own] of [
      [page, "panel-dispose-all-a", true],
      [pageB, "panel-dispose-all-b", false],
    ] as const) {
      const panel = await openPanelFromBanner(tab, "local_instance_dispose_all")
      await expectPanel(panel, {
        verdict: "diagnosed",
        headline: new RegExp(
          `^Stopped: ${own ? "you clicked Close every project" : "Close every project was clicked in another app window"} ${AT} ${SHOWN}\\.$`,
        ),
        operationPath: "dispose_all>dispose_directory",
        missing: [],
      })
      // The dispose-all row says how many projects and runs it reached (in its label: the drawn name
      // is cut to the label column).
      await expect(panel.locator('g.wf-row[data-kind="lifecycle"]').first()).toHaveAttribute(
        "aria-label",
        /^Close of every project: 2 projects, 2 runs, /,
      )
      await expect(tab.getByTestId(ui.bannerText)).toContainText(own ? "you requested" : "another app window")
      const doc = await downloadExport(tab, panel)
      const incident = expectIncident(doc, await panelRunId(tab), {
        classification: "local_instance_dispose_all",
        verdict: "diagnosed",
        operation: "dispose_directory",
        rootOperation: "dispose_all",
        originKind: "api_route",
        missing: [],
        retrySafe: true,
      })
      expect(incident.origin.request).toMatchObject({
        route: "/global/dispose",
        clientKind: "app",
        actionName: "global.dispose",
      })
      lifecycleIds.push(String(incident.rootLifecycleId))
      await snap(tab, testInfo, name)
    }
    // One parent action for both runs.
    expect(lifecycleIds[0]).toMatch(/^lc_/)
    expect(lifecycleIds[1]).toBe(lifecycleIds[0])
  })
})

test("4 git init from the app: a reload by its route", async ({ page, server, project }, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await page.getByTestId(ui.gitInit).click()
  await confirmStops(page, { runs: 1, directories: [dir] })

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you clicked Git init ${AT} ${SHOWN}\\.$`),
    operationPath: "reload",
    missing: [],
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    originKind: "api_route",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.request).toMatchObject({
    route: "/project/git/init",
    clientKind: "app",
    actionName: "project.git.init",
  })
  expect(existsSync(path.join(dir, ".git"))).toBe(true)
  await snap(page, testInfo, "panel-git-init")
})

test("5 config saved from the app: config invalidation written by the request", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page)

  // The config editor is on the session list; going there is a read.
  await page.getByRole("link", { name: "Sessions" }).click()
  const textarea = page.getByTestId(ui.configText)
  await expect(textarea).toHaveValue("{}")
  await textarea.fill(JSON.stringify({ model: "scripted/quick" }, null, 2))
  await page.getByTestId(ui.configSave).click()
  await confirmStops(page, { runs: 1, directories: [dir] })
  await expect(page.getByText("Saved.")).toBeVisible()
  await page.locator(`[data-testid="${ui.sessionItem}"][data-session-id="${sessionId}"] a`).click()

  const panel = await openPanelFromBanner(page, "local_instance_dispose_directory")
  await expect(page.getByTestId(ui.bannerText)).toContainText(
    "after you saved the project's opencode.json (Save config)",
  )
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you saved the project's opencode\\.json \\(Save config\\) ${AT} ${SHOWN}\\.$`),
    operationPath: "dispose_directory",
    missing: [],
  })
  // The config file's change is a node of its own in the waterfall, named by its file.
  await expect(panel.locator('g.wf-row[data-kind="change"]')).toHaveAttribute(
    "aria-label",
    /^You saved the project's opencode\.json \(Save config\),/,
  )
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_dispose_directory",
    verdict: "diagnosed",
    operation: "dispose_directory",
    originKind: "config_invalidation",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin).toMatchObject({
    scope: "project",
    request: { route: "/config", method: "PUT", actionName: "config.save" },
  })
  await snap(page, testInfo, "panel-config-save")
})

test("6 config file edited by another program: config invalidation, no request", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  const requests = trackRequests(page)
  await openProject(page, server.url, dir)
  await startRun(page)
  // Let the app's own refetches after sending finish: a request that loads the instance after the
  // write and before the watcher reports it would see the change first (a config_digest_mismatch
  // load_reload, a different close path, scenario 7's).
  await requests.quiet()
  writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({ model: "scripted/quick" }) + "\n")

  const panel = await openPanelFromBanner(page, "local_instance_dispose_directory")
  await expect(page.getByTestId(ui.bannerText)).toContainText(
    "after the project's opencode.json was edited outside the app",
  )
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: the project's opencode\\.json was edited outside the app ${AT} ${SHOWN}\\.$`),
    operationPath: "dispose_directory",
    missing: [],
    hops: { renderer: "not_applicable", request: "not_applicable", lifecycle: "present" },
  })
  await expect(panel.locator('g.wf-row[data-kind="change"]')).toHaveAttribute(
    "aria-label",
    /^The project's opencode\.json was edited outside the app,/,
  )
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_dispose_directory",
    verdict: "diagnosed",
    operation: "dispose_directory",
    originKind: "config_invalidation",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.scope).toBe("project")
  expect(incident.origin.request).toBeUndefined()
  await snap(page, testInfo, "panel-config-external")
})

test("7 context mismatch: the next load after an outside git init reloads", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  const sessionId = await startRun(page)
  // Another program makes the directory a git repository; nothing tells the server.
  execFileSync("git", ["init", "-q", dir])
  // Any request for the directory through the app: here, opening the session list.
  await page.getByRole("link", { name: "Sessions" }).click()
  await page.locator(`[data-testid="${ui.sessionItem}"][data-session-id="${sessionId}"] a`).click()

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expect(page.getByTestId(ui.bannerText)).toContainText("because the project's context changed")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(
      `^Stopped: the project became \\(or stopped being\\) a git repository, noticed when the project was next loaded ${AT} ${SHOWN}\\.$`,
    ),
    operationPath: "load_reload",
    missing: [],
    hops: { renderer: "not_applicable" },
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "load_reload",
    originKind: "context_mismatch",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.reason).toBe("worktree_mismatch")
  expect(incident.links.find((link) => link.hop === "renderer")?.status).toBe("not_applicable")
  await snap(page, testInfo, "panel-context-mismatch")
})

test("8 server stopped with SIGTERM and started again: dispose_all by shutdown", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  const exit = await server.stop("SIGTERM")
  expect(exit).toEqual({ code: 0, signal: null })
  await expect(page.getByRole("status", { name: /Event stream (?!open)/ })).toBeVisible()
  await server.restart()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })

  const panel = await openPanelFromBanner(page, "local_instance_dispose_all")
  await expect(page.getByTestId(ui.bannerText)).toContainText("because the server shut down (SIGTERM)")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: the server was asked to stop \\(SIGTERM\\) ${AT} ${SHOWN}\\.$`),
    operationPath: "dispose_all>dispose_directory",
    missing: [],
    hops: { renderer: "not_applicable", request: "not_applicable" },
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_dispose_all",
    verdict: "diagnosed",
    operation: "dispose_directory",
    rootOperation: "dispose_all",
    originKind: "shutdown",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.signal).toBe("SIGTERM")
  await expect(page.getByText("A run is in progress.")).toHaveCount(0)
  await snap(page, testInfo, "panel-sigterm")
})

test("9 server killed with SIGKILL and started again: crash evidence, not a close", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  const exit = await server.stop("SIGKILL")
  expect(exit.signal).toBe("SIGKILL")
  await server.start()
  await expect(page.getByRole("status", { name: "Event stream open" })).toBeVisible({ timeout: 20_000 })

  const panel = await openPanelFromBanner(page, "process_exit_without_finalizer")
  await expect(page.getByTestId(ui.bannerText)).toContainText("crash evidence, not a project reload or close")
  await expectPanel(panel, {
    verdict: "crash_evidence",
    headline:
      /^Lost: the server stopped without finishing this run\. Last evidence at \d\d:\d\d:\d\d, [\d.]+ (ms|s) into the run( \((its output had reached “Working on step \d+ of \d+\.”|output stored until [\d.]+ (ms|s) into the run|no output stored)\))?; what happened after is unknown until the server restarted at \d\d:\d\d:\d\d\.$/,
    operationPath: "",
  })
  await expect(panel.getByTestId("evidence-note")).toContainText("this is not a reload or close")
  await expect(panel.getByTestId(ui.panelHeadline)).not.toContainText("Stopped")
  // Drawn as last evidence, then unknown until the restart: never as a run alive while the server was down.
  await expect(panel.getByTestId("unknown-stretch")).toHaveCount(1)
  await expect(panel.locator('g.wf-row[data-kind="restart"]')).toHaveCount(1)
  // The app does not keep claiming the lost run is still going.
  await expect(page.getByText("A run is in progress.")).toHaveCount(0)
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "process_exit_without_finalizer",
    verdict: "crash_evidence",
    operation: undefined,
    originKind: "unknown",
  })
  expect(incident.rootOperation).toBeUndefined()
  expect(incident.retry.safe).not.toBe(false)
  await snap(page, testInfo, "panel-sigkill")
})

test("10 reload and dispose racing: exactly one cause, the other never a rival cause", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  const directory = { "x-opencode-directory": encodeURIComponent(dir) }
  const [reload, dispose] = await fireTogether(server.url, [
    { method: "POST", path: "/instance/reload", headers: directory },
    { method: "POST", path: "/instance/dispose", headers: directory },
  ])
  expect([reload!.status, dispose!.status]).toEqual([200, 200])
  const ids = {
    reload: reload!.headers["x-opencode-lifecycle-id"]!,
    dispose: dispose!.headers["x-opencode-lifecycle-id"]!,
  }
  expect(ids.reload).toMatch(/^lc_/)
  expect(ids.dispose).toMatch(/^lc_/)

  const banner = page.getByTestId(ui.banner)
  await expect(banner).toBeVisible()
  const classification = (await banner.getAttribute("data-classification"))!
  expect(["local_instance_reload", "local_instance_dispose"]).toContain(classification)
  const [cause, other] =
    classification === "local_instance_reload" ? (["reload", "dispose"] as const) : (["dispose", "reload"] as const)
  const panel = await openPanelFromBanner(page, classification)
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(
      `^Stopped: another program \\(not this app\\) asked the server for a project ${cause === "reload" ? "reload" : "close"} ${AT} ${SHOWN}\\.$`,
    ),
    operationPath: cause,
    missing: [],
  })
  await expect(panel).toHaveAttribute("data-lifecycle-ids", ids[cause])
  await expect(panel.getByTestId("panel-ids")).toContainText(ids[cause])
  await expect(panel.getByTestId("panel-ids")).not.toContainText(ids[other])
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification,
    verdict: "diagnosed",
    operation: cause,
    originKind: "api_route",
    missing: [],
  })
  expect(incident.lifecycleId).toBe(ids[cause])
  // The other action is never a rival cause. It is listed as also requested when it reached the
  // run's generation before the run's summary; when the server had already finished the first close
  // (the scripted run settles within the same event-loop turn), it closed the next generation, which
  // had no runs, and is rightly not on this run.
  const also = incident.alsoRequestedBy.map((item) => item.lifecycleId)
  expect(also).not.toContain(ids[cause])
  if (also.length > 0) {
    expect(incident.alsoRequestedBy).toEqual([expect.objectContaining({ lifecycleId: ids[other], operation: other })])
    await expect(panel.getByTestId(ui.alsoRequested)).toHaveAttribute("data-lifecycle-ids", ids[other])
    await expect(panel.getByTestId(ui.alsoRequested)).toContainText(
      `a project ${other === "reload" ? "reload" : "close"}`,
    )
  } else {
    await expect(panel.getByTestId(ui.alsoRequested)).toHaveCount(0)
    const lifecycle = doc.diagnostics.lifecycle as Array<{ lifecycleId: string; runIds?: string[] }>
    expect(lifecycle.find((action) => action.lifecycleId === ids[other])?.runIds ?? []).toEqual([])
  }
  await snap(page, testInfo, "panel-race")
})

test("11 reload from a plain client: the renderer hop is not applicable", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  const res = await server.fetch("/instance/reload", { method: "POST", directory: dir })
  expect(res.status).toBe(200)

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expect(page.getByTestId(ui.bannerText)).toContainText("requested by another client (POST /instance/reload)")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(
      `^Stopped: another program \\(not this app\\) asked the server for a project reload ${AT} ${SHOWN}\\.$`,
    ),
    operationPath: "reload",
    missing: [],
    hops: { renderer: "not_applicable", request: "present", lifecycle: "present" },
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    originKind: "api_route",
    missing: [],
  })
  expect(incident.origin.request).toMatchObject({ route: "/instance/reload", clientKind: "plain" })
  expect(incident.links.find((link) => link.hop === "renderer")?.status).toBe("not_applicable")
  await snap(page, testInfo, "panel-plain-client")
})

test("12 an app request without an action id: partially diagnosed, renderer_action missing", async ({
  page,
  server,
  project,
}, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  const res = await server.fetch("/instance/reload", {
    method: "POST",
    directory: dir,
    headers: { "x-opencode-client": "app/0.1.0" },
  })
  expect(res.status).toBe(200)

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expect(page.getByTestId(ui.bannerText)).toContainText(
    "partially diagnosed, missing which app button was clicked",
  )
  await expectPanel(panel, {
    verdict: "partially_diagnosed",
    headline: new RegExp(
      `^Stopped: the app asked the server for a project reload, but which button was clicked was not recorded ${AT} ${SHOWN}\\.$`,
    ),
    operationPath: "reload",
    missing: ["renderer_action"],
    hops: { renderer: "missing", request: "present" },
  })
  await expect(panel.getByTestId(ui.missingField)).toHaveText("which app button was clicked")
  await expect(panel.getByTestId("missing-callout")).toHaveAttribute(
    "aria-label",
    "Not recorded: which app button was clicked",
  )
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_reload",
    verdict: "partially_diagnosed",
    operation: "reload",
    originKind: "api_route",
    missing: ["renderer_action"],
  })
  expect(incident.origin.request).toMatchObject({ clientKind: "app" })
  expect(incident.origin.request).not.toHaveProperty("actionId")
  await snap(page, testInfo, "panel-app-no-action")
})

test("13 a forwarded remote workspace: remote reported", async ({ page, server, project, spawnServer }, testInfo) => {
  const remote = await spawnServer()
  const remoteDir = project()
  const localDir = project()
  const patched = await server.fetch("/global/config", {
    method: "PATCH",
    body: JSON.stringify({ workspaces: { w1: { url: remote.url } } }),
  })
  expect(patched.status).toBe(200)

  // The app has no workspace selector: the forwarded run is driven through the local server's API.
  const forward = { directory: remoteDir, headers: { "x-opencode-workspace": "w1" } }
  const created = await server.fetch("/session", { method: "POST", body: "{}", ...forward })
  expect(created.status).toBe(200)
  const sessionId = ((await created.json()) as { id: string }).id
  const prompted = await server.fetch(`/session/${sessionId}/prompt`, {
    method: "POST",
    body: JSON.stringify({ text: "Work remotely.", model: SLOW }),
    ...forward,
  })
  expect(prompted.status).toBe(200)
  const { runId } = (await prompted.json()) as { runId: string }
  await expect
    .poll(async () => (await runsOf(remote.fetch, sessionId, remoteDir)).map((run) => run.status))
    .toEqual(["running"])
  // Interrupt once the remote has shown output.
  await expect
    .poll(async () => {
      const messages = (await (
        await remote.fetch(`/session/${sessionId}/message`, { directory: remoteDir })
      ).json()) as Array<{ parts: Array<{ text?: string }> }>
      return messages.some((message) => message.parts.some((part) => part.text?.startsWith("Working on step")))
    })
    .toBe(true)
  await expect
    .poll(async () => (await runsOf(server.fetch, sessionId, localDir)).map((run) => run.status))
    .toEqual(["running"])

  // The remote closes its instance; locally only the stream's end is known.
  expect((await remote.fetch("/instance/reload", { method: "POST", directory: remoteDir })).status).toBe(200)
  await expect
    .poll(async () =>
      (await runsOf(server.fetch, sessionId, localDir)).map((run) => `${run.status}:${run.summary?.classification}`),
    )
    .toEqual(["finished:remote_interrupted"])

  await openProject(page, server.url, localDir)
  await page.goto(`${server.url}/app/session/${sessionId}`)
  const panel = await openPanelFromBanner(page, "remote_interrupted")
  await expect(page.getByTestId(ui.bannerText)).toContainText("interrupted by the remote workspace w1")
  await expectPanel(panel, {
    verdict: "remote_reported",
    headline:
      /^Stopped: the remote workspace w1 stopped it; why is known only there at \d\d:\d\d:\d\d, [\d.]+ (ms|s) into the run/,
  })
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, runId, {
    classification: "remote_interrupted",
    verdict: "remote_reported",
    originKind: "forwarded_remote",
  })
  expect(incident.origin.workspaceId).toBe("w1")
  // The remote's own chain is kept beside it, as remote-reported evidence only.
  expect(incident.remote).toMatchObject({
    source: "remote_reported",
    chain: { runId, classification: "local_instance_reload", operation: "reload" },
  })
  expect(
    incident.links.filter((link) => ["renderer", "request", "lifecycle"].includes(link.hop)).map((link) => link.status),
  ).toEqual(["remote_reported", "remote_reported", "remote_reported"])
  await snap(page, testInfo, "panel-remote")
})

test("14 the user's stop button: user cancelled", async ({ page, server, project }, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page)
  await pressStop(page)

  const panel = await openPanelFromBanner(page, "user_cancelled")
  await expect(page.getByTestId(ui.bannerText)).toHaveText("This run was stopped by you (Stop).")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you clicked Stop ${AT} ${SHOWN}\\.$`),
    operationPath: "",
    missing: [],
    retry: "true",
  })
  // The abort route is linked straight to the run it stopped.
  const rows = panel.locator("g.wf-row")
  await expect(rows).toHaveCount(3)
  await expect(rows.nth(1)).toHaveAttribute("aria-label", /^Request from the app: POST \/session\/:id\/abort/)
  await expect(rows.nth(2)).toHaveAttribute("data-kind", "run")
  const doc = await downloadExport(page, panel)
  const incident = expectIncident(doc, await panelRunId(page), {
    classification: "user_cancelled",
    verdict: "diagnosed",
    operation: undefined,
    originKind: "api_route",
    missing: [],
    retrySafe: true,
  })
  expect(incident.origin.request).toMatchObject({ actionName: "session.abort", clientKind: "app" })
  await snap(page, testInfo, "panel-user-stop")
})

test.describe("watchdog", () => {
  test.use({ serverEnv: { OPENCODE_WATCHDOG_MS: "500" } })

  test("15 the watchdog stops a stalled provider", async ({ page, server, project }, testInfo) => {
    const dir = project()
    await openProject(page, server.url, dir)
    await startRun(page, "scripted/stall", "Stall, please.", { waitRunning: false })

    const panel = await openPanelFromBanner(page, "watchdog_timeout")
    await expect(page.getByTestId(ui.bannerText)).toContainText("stopped by the watchdog")
    await expectPanel(panel, {
      verdict: "diagnosed",
      headline:
        /^Stopped: the watchdog stopped it: the model made no progress in time at \d\d:\d\d:\d\d, [\d.]+ (ms|s) into the run/,
      operationPath: "",
      missing: [],
    })
    const doc = await downloadExport(page, panel)
    const incident = expectIncident(doc, await panelRunId(page), {
      classification: "watchdog_timeout",
      verdict: "diagnosed",
      operation: undefined,
      originKind: "server_handler",
      missing: [],
      retrySafe: true,
    })
    expect(incident.origin.handler).toBe("watchdog")
    await snap(page, testInfo, "panel-watchdog")
  })
})

test("16 a run with a started write tool, then reload: retry not safe", async ({ page, server, project }, testInfo) => {
  const dir = project()
  await openProject(page, server.url, dir)
  await startRun(page, "scripted/tool-write", "Write a file.")
  await expect(page.getByTestId(ui.partTool).first()).toBeVisible()
  await expect.poll(() => existsSync(path.join(dir, "scripted-output.txt"))).toBe(true)
  await page.getByTestId(ui.reload).click()
  await confirmStops(page, { runs: 1, directories: [dir] })

  const panel = await openPanelFromBanner(page, "local_instance_reload")
  await expectPanel(panel, {
    verdict: "diagnosed",
    headline: new RegExp(`^Stopped: you clicked Reload project ${AT}`),
    operationPath: "reload",
    missing: [],
    retry: "false",
  })
  // Not safe: the advice names the tool, what it touched, and when it finished; no Resend button.
  await expect(panel.getByTestId(ui.retry)).toContainText(
    /^Not safe to resend as is: `write` \(can write files\) completed at [\d.]+ (ms|s)\./,
  )
  await expect(panel.getByTestId("resend-button")).toHaveCount(0)
  const doc = await downloadExport(page, panel)
  expectIncident(doc, await panelRunId(page), {
    classification: "local_instance_reload",
    verdict: "diagnosed",
    operation: "reload",
    originKind: "api_route",
    missing: [],
    retrySafe: false,
    retryBasis: ["side_effect_tool_started", "kind:write"],
  })
  // The transcript shows the tool's path; the diagnostics export leaves it out.
  await expect(page.getByTestId("part-tool-path").first()).toHaveText("scripted-output.txt")
  expect(JSON.stringify((doc as unknown as { messages: unknown }).messages)).not.toContain("scripted-output.txt")
  await snap(page, testInfo, "panel-tool-write")
})
