/**
 * "Why did this run stop?": the incident panel, a side drawer. It reads the session's
 * diagnostics export, re-derives the chains with the spine's reader, and leads with the answer
 * in words (headline, evidence badge, retry advice with a Resend button when it is safe), then
 * the waterfall and the numbered event history; ids and the raw records sit behind disclosures.
 * It explains one run, the one its URL names, and never another's: the run picker and the resend
 * links move to another run's URL. Escape or Close closes it; the caller returns focus to
 * whatever opened it.
 */
import {
  createEffect,
  createMemo,
  createResource,
  createSignal,
  For,
  Match,
  on,
  onCleanup,
  onMount,
  Show,
  Switch,
} from "solid-js"
import { readsEveryRun, type ReadSuccess } from "opencode/provenance"
import { z } from "zod"
import { useClientActions } from "../context/client-action.tsx"
import { ServerError } from "../context/server.ts"
import { useServer } from "../context/server-context.tsx"
import { downloadJson, type ExportData, exportData } from "./export-data.ts"
import { HOP_STATUS_WORDS, HOP_WORDS, operationTitle } from "./glossary.ts"
import type { RunRecord } from "../context/shapes.ts"
import { EventHistory, FieldList } from "./event-history.tsx"
import { chainEndingWords, resendLinks } from "./run-history.ts"
import { clock, clockMs, evidenceWords, headlineWords, retryAdvice, runFacts, type StoryContext } from "./story.ts"
import { Timeline } from "./timeline.tsx"
import { buildWaterfall } from "./waterfall.ts"

interface IncidentPanelProps {
  sessionId: string
  /** The run to explain; defaults to the export's last incident. */
  runId?: string
  /** The session's runs as the page knows them (live): for the resend links. */
  runs?: readonly RunRecord[]
  /** The run is still going: nothing stopped it (yet). */
  running?: boolean
  /** Shows another run's explanation in place (the run picker). */
  onSelectRun?: (runId: string) => void
  /** Opens another run's explanation (a resend link). */
  onOpenRun?: (runId: string) => void
  /** The shareable URL of a run's explanation, for "Copy link". */
  linkFor?: (runId: string) => string
  onClose?: () => void
  /** Sends the stopped run's prompt again; offered only when a retry is safe. */
  onResend?: (runId: string) => Promise<void>
  /** Facts from the transcript the export leaves out (last output line, tool paths). */
  context?: StoryContext
}

/** Below this width the event history is the default view. */
const NARROW_PX = 600

/** Fetches the export and shows it; Export downloads the same document after flushing the action log. */
export function IncidentPanel(props: IncidentPanelProps) {
  const server = useServer()
  const actions = useClientActions()
  const [doc, { refetch }] = createResource(
    () => props.sessionId,
    async (id) => {
      // Upload this tab's actions first, so the panel's renderer hop holds them.
      await actions.log.flush().catch(() => {})
      return server.read(`/session/${encodeURIComponent(id)}/export`, z.unknown(), { content: "diagnostics" })
    },
  )
  // Opened while its run was still running, the export read then holds no stop for it: once the
  // run has ended, the panel reads the export again, or it would say the run finished.
  createEffect(
    on(
      () => props.running,
      (running, was) => {
        if (was === true && !running) void refetch()
      },
      { defer: true },
    ),
  )
  const data = createMemo(() => {
    // `latest` throws the load's error: an unreadable export is the error view's, never thrown on.
    if (doc.error) return undefined
    const value = doc.latest
    return value === undefined ? undefined : exportData(value)
  })
  // The panel is gone (closed, another run, another page): a late export answer reads nothing more for it.
  let open = true
  onCleanup(() => (open = false))
  const exportSession = async () => {
    const id = props.sessionId
    await actions.runAction("session.export", async (api) => {
      // The export then holds every action this tab took, including this one.
      await actions.log.flush().catch(() => {})
      const file = await api.get(`/session/${encodeURIComponent(id)}/export`, z.unknown(), { content: "diagnostics" })
      // The file the user asked for is saved even if they closed the panel meanwhile: it takes them nowhere.
      downloadJson(`session-${id}-export.json`, file)
    })
    if (open) void refetch()
  }
  const onKey = (event: KeyboardEvent) => {
    if (event.key === "Escape" && !event.defaultPrevented) {
      event.preventDefault()
      props.onClose?.()
    }
  }
  onMount(() => document.addEventListener("keydown", onKey))
  onCleanup(() => document.removeEventListener("keydown", onKey))
  const context = () => ({ ...props.context, isOwnAction: actions.isOwnAction })
  return (
    <>
      <Switch>
        <Match when={doc.error && !doc.loading}>
          <section class="panel" data-testid="incident-panel">
            <PanelHeader onClose={props.onClose} />
            <p role="alert">{loadError(doc.error)}</p>
            <button type="button" onClick={() => void refetch()}>
              Try again
            </button>
          </section>
        </Match>
        <Match when={data()}>
          {(loaded) => (
            <IncidentPanelView
              data={loaded()}
              runId={props.runId}
              runs={props.runs}
              running={props.running}
              onSelectRun={props.onSelectRun}
              onOpenRun={props.onOpenRun}
              linkFor={props.linkFor}
              onExport={exportSession}
              onClose={props.onClose}
              onResend={props.onResend}
              context={context()}
            />
          )}
        </Match>
        <Match when={true}>
          <section class="panel" data-testid="incident-panel" aria-busy="true">
            <PanelHeader onClose={props.onClose} />
            <p>Loading what is recorded about this run…</p>
          </section>
        </Match>
      </Switch>
    </>
  )
}

/** Worded by what failed: a server that did not answer, an answer cut short, or a refusal in the server's words. */
function loadError(error: unknown): string {
  const code = error instanceof ServerError ? error.code : undefined
  if (code === "server_unreachable")
    return "The server is not answering, so what stopped this run cannot be read now. It reconnects by itself; try again once it is back."
  if (code === "answer_cut_short")
    return "The server stopped sending what is recorded about this run before it was complete, so none of it is shown. Try again to read it anew."
  return `What is recorded about this run could not be read: ${error instanceof Error ? error.message : String(error)}`
}

/**
 * The heading takes the focus when it appears (the panel opens, or its loading view gives way to the
 * explanation or the error): the element that had it is gone with the view it was in. Inside a
 * dialog, focus the user already moved elsewhere in it stays where they put it.
 */
function PanelHeader(props: { onClose?: () => void }) {
  let heading: HTMLHeadingElement | undefined
  onMount(() => {
    const dialog = heading?.closest('[role="dialog"]')
    const active = document.activeElement
    if (dialog && active && active !== heading && active.isConnected && dialog.contains(active)) return
    heading?.focus({ preventScroll: true })
  })
  return (
    <header class="panel-header">
      <h2 id="incident-panel-title" tabindex="-1" ref={heading}>
        Why did this run stop?
      </h2>
      <Show when={props.onClose}>
        <button
          type="button"
          class="quiet"
          onClick={() => props.onClose?.()}
          data-testid="panel-close"
          aria-label="Close (Escape)"
        >
          Close
        </button>
      </Show>
    </header>
  )
}

interface IncidentPanelViewProps {
  data: ExportData
  /** The run to explain. When it has no incident, the panel says so: it never shows another run's. */
  runId?: string
  runs?: readonly RunRecord[]
  running?: boolean
  onSelectRun?: (runId: string) => void
  onOpenRun?: (runId: string) => void
  linkFor?: (runId: string) => string
  onExport?: () => Promise<void>
  onClose?: () => void
  onResend?: (runId: string) => Promise<void>
  context?: StoryContext
  /** Waterfall width when the container cannot be measured (tests). */
  width?: number
}

export function IncidentPanelView(props: IncidentPanelViewProps) {
  const incidents = () => (props.data.read.ok ? props.data.read.incidents : [])
  const records = () => props.data.records
  const [selectedRun, setSelectedRun] = createSignal<string | undefined>(undefined)
  const wanted = () => selectedRun() ?? props.runId
  const chain = createMemo(() => {
    const list = incidents()
    const runId = wanted()
    // A named run is shown or said to be absent: another run's story is never shown in its place.
    return runId !== undefined ? list.find((item) => item.runId === runId) : list[list.length - 1]
  })
  const pickRun = (runId: string) => {
    if (props.onSelectRun) props.onSelectRun(runId)
    else setSelectedRun(runId)
  }
  const links = createMemo(() => {
    const current = chain()
    const runId = current?.runId ?? wanted()
    return runId ? resendLinks(runId, props.runs ?? [], current) : {}
  })
  const [copyState, setCopyState] = createSignal<"idle" | "copied" | "shown">("idle")
  const copyLink = async () => {
    const runId = chain()?.runId ?? wanted()
    if (!runId || !props.linkFor) return
    try {
      await navigator.clipboard.writeText(props.linkFor(runId))
      setCopyState("copied")
    } catch {
      // No clipboard (an insecure origin, a denied permission): the link is shown to copy by hand.
      setCopyState("shown")
    }
  }
  const context = () => props.context ?? {}
  const model = createMemo(() => {
    const current = chain()
    return current ? buildWaterfall(current, records(), context()) : undefined
  })
  // Waterfall rows the pointer or the focus is on, in the waterfall or the history: both mark them.
  const [linked, setLinked] = createSignal<ReadonlySet<string>>(new Set())
  const [exportState, setExportState] = createSignal<"idle" | "busy" | "done" | "error">("idle")
  const [exportError, setExportError] = createSignal("")
  const [resendState, setResendState] = createSignal<"idle" | "busy" | "done" | "error">("idle")
  const [width, setWidth] = createSignal(props.width ?? 0)
  const [view, setView] = createSignal<"timeline" | "history" | undefined>(undefined)
  let panel: HTMLElement | undefined

  onMount(() => {
    if (!panel || typeof ResizeObserver === "undefined") return
    // Redraw on resize: the drawer follows the window, and so does the waterfall.
    const observer = new ResizeObserver((entries) => {
      const measured = Math.floor(entries[0]?.contentRect.width ?? 0)
      if (measured > 0 && measured !== width()) setWidth(measured)
    })
    observer.observe(panel)
    onCleanup(() => observer.disconnect())
  })
  const measuredWidth = () => width() || props.width || 960
  const narrow = () => measuredWidth() < NARROW_PX
  const shownView = () => view() ?? (narrow() ? "history" : "timeline")
  const link = (rowIds: string[]) => setLinked(new Set(rowIds))

  const runExport = async () => {
    if (!props.onExport) return
    setExportState("busy")
    try {
      await props.onExport()
      setExportState("done")
    } catch (error) {
      setExportError(error instanceof Error ? error.message : String(error))
      setExportState("error")
    }
  }
  const resend = async (runId: string) => {
    if (!props.onResend) return
    setResendState("busy")
    try {
      await props.onResend(runId)
      setResendState("done")
    } catch {
      setResendState("error")
    }
  }

  const read = () => props.data.read
  const runStart = (runId: string) => {
    const item = incidents().find((chainItem) => chainItem.runId === runId)
    return item ? runFacts(item, records())?.startedAt : undefined
  }
  /** The picker's runs, oldest first: a person reads them in the order they happened. */
  const inTimeOrder = createMemo(() =>
    incidents()
      .map((item, index) => ({ item, index, start: runStart(item.runId) }))
      .sort((a, b) => (a.start ?? Number.MAX_SAFE_INTEGER) - (b.start ?? Number.MAX_SAFE_INTEGER) || a.index - b.index)
      .map(({ item }) => item),
  )
  const operationPath = () => {
    const current = chain()
    if (!current) return undefined
    const path =
      current.lifecyclePath && current.lifecyclePath.length > 0
        ? current.lifecyclePath
        : current.lifecycleId && current.operation
          ? [{ lifecycleId: current.lifecycleId, operation: current.operation }]
          : []
    return path
  }
  return (
    <section
      class="panel"
      ref={panel}
      data-testid="incident-panel"
      aria-labelledby="incident-panel-title"
      data-run-id={chain()?.runId}
      data-operation={chain()?.operation}
      data-operation-path={operationPath()
        ?.map((step) => step.operation)
        .join(">")}
      data-lifecycle-ids={operationPath()
        ?.map((step) => step.lifecycleId)
        .join(" ")}
    >
      <PanelHeader onClose={props.onClose} />

      <Show when={read().ok === false}>
        <p role="alert">{(read() as { error: string }).error}</p>
      </Show>
      <Show when={read().ok && incidents().length === 0 && wanted() === undefined}>
        <p data-testid="panel-headline">
          {readsEveryRun(read() as ReadSuccess)
            ? "No stopped or lost run is recorded for this session."
            : "Not every run record of this session's export could be read, so the panel cannot say that nothing stopped; the warnings below say what is wrong."}
        </p>
      </Show>
      <Show when={read().ok && wanted() !== undefined && !chain()}>
        <p data-testid="panel-headline">
          {props.running
            ? "This run is still running: nothing has stopped it."
            : "No stop is recorded for this run: it finished, or its record is not in this session's export."}
        </p>
      </Show>

      <Show when={incidents().length > 1 || (incidents().length === 1 && !chain())}>
        <label class="field">
          <span>Stopped run</span>
          <select
            data-testid="incident-select"
            value={chain()?.runId ?? ""}
            onChange={(event) => pickRun(event.currentTarget.value)}
          >
            <Show when={!chain()}>
              <option value="" disabled>
                Choose a stopped run
              </option>
            </Show>
            <For each={inTimeOrder()}>
              {(item) => {
                const start = runStart(item.runId)
                return (
                  <option
                    value={item.runId}
                  >{`${start !== undefined ? `Started ${clock(start)}` : "Run"}: ${chainEndingWords(item, context().isOwnAction ?? (() => false))}`}</option>
                )
              }}
            </For>
          </select>
        </label>
      </Show>

      <Show when={links().of || links().as}>
        <div class="resend-links" data-testid="resend-links">
          <Show when={links().of}>
            {(of) => (
              <p data-testid="resend-of">
                {of().words}{" "}
                <Show when={props.onOpenRun}>
                  <button type="button" class="link" onClick={() => props.onOpenRun?.(of().runId)}>
                    Why did that run stop?
                  </button>
                </Show>
              </p>
            )}
          </Show>
          <Show when={links().as}>
            {(as) => (
              <p data-testid="resent-as">
                {as().words}{" "}
                <Show when={as().stopped && props.onOpenRun}>
                  <button type="button" class="link" onClick={() => props.onOpenRun?.(as().runId)}>
                    Why?
                  </button>
                </Show>
              </p>
            )}
          </Show>
        </div>
      </Show>

      <Show when={chain()}>
        {(current) => {
          const evidence = createMemo(() => evidenceWords(current()))
          const advice = createMemo(() => retryAdvice(current(), records()))
          return (
            <>
              <p class="headline" data-testid="panel-headline">
                {headlineWords(current(), records(), context())}
              </p>
              <div class="evidence" role="group" aria-label="Evidence">
                <strong
                  class={`badge verdict verdict-${current().verdict}`}
                  data-testid="panel-verdict"
                  data-verdict={current().verdict}
                >
                  {evidence().label}
                </strong>{" "}
                <span data-testid="evidence-note">{evidence().note}</span>
                <Show when={evidence().missing.length > 0}>
                  <ul class="missing" aria-label="Not recorded">
                    <For each={evidence().missing}>
                      {(item) => (
                        <li class="missing-field" data-testid="missing-field" data-field={item.field}>
                          {item.words}
                        </li>
                      )}
                    </For>
                  </ul>
                </Show>
              </div>
              <div
                class={`retry retry-${String(advice().safe)}`}
                data-testid="retry-statement"
                data-safe={String(current().retry.safe)}
              >
                <p>{advice().words}</p>
                <Show when={advice().safe === true && props.onResend}>
                  <div class="row">
                    <button
                      type="button"
                      data-testid="resend-button"
                      disabled={resendState() === "busy" || resendState() === "done"}
                      onClick={() => void resend(current().runId)}
                    >
                      Resend prompt
                    </button>
                    <span role="status" class="muted small">
                      {resendState() === "busy"
                        ? "Sending…"
                        : resendState() === "done"
                          ? "Sent again."
                          : resendState() === "error"
                            ? "Could not send it again."
                            : ""}
                    </span>
                  </div>
                </Show>
              </div>
              <Show when={current().alsoRequestedBy.length > 0}>
                <p
                  data-testid="also-requested"
                  data-lifecycle-ids={current()
                    .alsoRequestedBy.map((other) => other.lifecycleId ?? "")
                    .join(" ")}
                >
                  Also asked to stop this run, after the cause:{" "}
                  {current()
                    .alsoRequestedBy.map(
                      (other) =>
                        `a ${operationTitle(other.operation).toLowerCase()}${other.late ? " (after the run had already finished)" : ""}`,
                    )
                    .join("; ")}
                  .
                </p>
              </Show>
            </>
          )
        }}
      </Show>

      <Show when={chain()}>
        <Show when={narrow()}>
          <div class="row" role="group" aria-label="View">
            <button
              type="button"
              class="quiet"
              aria-pressed={shownView() === "history"}
              data-testid="view-history"
              onClick={() => setView("history")}
            >
              Event history
            </button>
            <button
              type="button"
              class="quiet"
              aria-pressed={shownView() === "timeline"}
              data-testid="view-timeline"
              onClick={() => setView("timeline")}
            >
              Timeline
            </button>
          </div>
        </Show>
        <Timeline
          model={model()}
          width={measuredWidth()}
          hidden={narrow() && shownView() !== "timeline"}
          linked={linked()}
          onHover={link}
        />
        <Show when={!narrow() || shownView() === "history"}>
          <EventHistory chain={chain()!} data={props.data} context={context()} linked={linked()} onHover={link} />
        </Show>
      </Show>

      <Show when={chain()}>
        {(current) => (
          <>
            <details class="ids" data-testid="panel-ids">
              <summary>Ids and technical details</summary>
              <dl>
                <dt>Run</dt>
                <dd data-testid="panel-run-id">{current().runId}</dd>
                <For each={operationPath()}>
                  {(step) => (
                    <>
                      <dt>{operationTitle(step.operation)}</dt>
                      <dd>{step.lifecycleId}</dd>
                    </>
                  )}
                </For>
                <For each={model()?.rows.filter((row) => row.kind === "request" || row.kind === "action") ?? []}>
                  {(row) => (
                    <>
                      <dt>{row.kind === "action" ? "App action" : "Request"}</dt>
                      <dd>{row.fields[0]?.[1]}</dd>
                    </>
                  )}
                </For>
              </dl>
            </details>
            <details class="records">
              <summary>Records on this chain</summary>
              <ul class="hops">
                <For each={current().links}>
                  {(link) => (
                    <li data-testid="hop" data-hop={link.hop} data-status={link.status}>
                      <strong>{HOP_WORDS[link.hop] ?? link.hop}</strong>: {HOP_STATUS_WORDS[link.status]}
                      {link.ref ? ` (${link.ref})` : ""}
                      {link.source === "client_reported" ? ", as the app reported it" : ""}
                    </li>
                  )}
                </For>
              </ul>
              <For each={model()?.rows ?? []}>
                {(row) => (
                  <div class="record" data-testid="record">
                    <h4>{row.name}</h4>
                    <dl>
                      <dt>At</dt>
                      <dd>{clockMs(row.start)}</dd>
                      <FieldList fields={row.fields} />
                    </dl>
                  </div>
                )}
              </For>
            </details>
          </>
        )}
      </Show>

      <Show when={read().ok && (read() as { warnings: string[] }).warnings.length > 0}>
        <ul class="warnings">
          <For each={(read() as { warnings: string[] }).warnings}>{(warning) => <li>{warning}</li>}</For>
        </ul>
      </Show>
      <Show when={props.data.skipped > 0}>
        <p class="muted">{props.data.skipped} record(s) in the export could not be read and are not drawn.</p>
      </Show>

      <Show when={props.linkFor && (chain()?.runId ?? wanted())}>
        <div class="row">
          <button type="button" class="quiet" data-testid="copy-link-button" onClick={() => void copyLink()}>
            Copy link
          </button>
          <span role="status" class="muted small" data-testid="copy-link-status">
            {copyState() === "copied" ? "Link copied." : copyState() === "shown" ? "Copy this link:" : ""}
          </span>
          <Show when={copyState() === "shown"}>
            <input
              class="link-text"
              readonly
              aria-label="Link to this explanation"
              value={props.linkFor!(chain()?.runId ?? wanted()!)}
              onFocus={(event) => event.currentTarget.select()}
            />
          </Show>
        </div>
      </Show>

      <Show when={props.onExport}>
        <div class="row">
          <button
            type="button"
            class="quiet"
            data-testid="export-button"
            disabled={exportState() === "busy"}
            onClick={() => void runExport()}
          >
            Export diagnostics
          </button>
          <span role="status" class="muted">
            {exportState() === "busy"
              ? "Exporting…"
              : exportState() === "done"
                ? "Downloaded."
                : exportState() === "error"
                  ? `Export failed: ${exportError()}`
                  : ""}
          </span>
        </div>
      </Show>
    </section>
  )
}
