/**
 * "Why did this run stop?": the incident panel. It reads the session's diagnostics export,
 * re-derives the chains with the spine's reader, and shows the verdict in words, the timeline,
 * every record on the chain, the retry statement, and an Export button.
 */
import { createEffect, createMemo, createResource, createSignal, For, Match, on, onMount, Show, Switch } from "solid-js"
import { z } from "zod"
import { useClientActions } from "../context/client-action.tsx"
import { useServer } from "../context/server-context.tsx"
import { downloadJson, type ExportData, exportData } from "./export-data.ts"
import { buildTimelineModel, focusDomain, LANE_TITLES, type Mark, renderTimeline } from "./timeline.ts"
import { headline, retryStatement } from "./verdict-words.ts"

export interface IncidentPanelProps {
  sessionId: string
  /** The run to explain; defaults to the export's last incident. */
  runId?: string
  onClose?: () => void
}

/** Fetches the export and shows it; Export downloads the same document after flushing the action log. */
export function IncidentPanel(props: IncidentPanelProps) {
  const server = useServer()
  const actions = useClientActions()
  const [doc, { refetch }] = createResource(
    () => props.sessionId,
    async (id) => {
      // Upload this tab's actions first, so the panel's renderer lane holds them.
      await actions.log.flush().catch(() => {})
      return server.read(`/session/${encodeURIComponent(id)}/export`, z.unknown(), { content: "diagnostics" })
    },
  )
  const data = createMemo(() => {
    const value = doc.latest
    return value === undefined ? undefined : exportData(value)
  })
  const exportSession = async () => {
    const id = props.sessionId
    await actions.runAction("session.export", async (api) => {
      // The export then holds every action this tab took, including this one.
      await actions.log.flush().catch(() => {})
      const file = await api.get(`/session/${encodeURIComponent(id)}/export`, z.unknown(), { content: "diagnostics" })
      downloadJson(`session-${id}-export.json`, file)
    })
    void refetch()
  }
  return (
    <Switch>
      <Match when={doc.error}>
        <section class="panel" data-testid="incident-panel" aria-label="Why did this run stop?">
          <p role="alert">The diagnostics export could not be loaded: {String((doc.error as Error)?.message ?? doc.error)}</p>
          <button type="button" onClick={() => void refetch()}>
            Try again
          </button>
        </section>
      </Match>
      <Match when={data()}>{(loaded) => <IncidentPanelView data={loaded()} runId={props.runId} onExport={exportSession} onClose={props.onClose} />}</Match>
      <Match when={true}>
        <section class="panel" data-testid="incident-panel" aria-busy="true" aria-label="Why did this run stop?">
          <p>Loading the diagnostics export…</p>
        </section>
      </Match>
    </Switch>
  )
}

export interface IncidentPanelViewProps {
  data: ExportData
  runId?: string
  onExport?: () => Promise<void>
  onClose?: () => void
  /** Timeline width when the container cannot be measured (tests). */
  width?: number
}

export function IncidentPanelView(props: IncidentPanelViewProps) {
  const incidents = () => (props.data.read.ok ? props.data.read.incidents : [])
  const [selectedRun, setSelectedRun] = createSignal<string | undefined>(undefined)
  const chain = createMemo(() => {
    const list = incidents()
    const wanted = selectedRun() ?? props.runId
    return list.find((item) => item.runId === wanted) ?? list[list.length - 1]
  })
  const model = createMemo(() => buildTimelineModel(props.data.records, chain()))
  const [focused, setFocused] = createSignal<Mark | undefined>(undefined)
  const [exportState, setExportState] = createSignal<"idle" | "busy" | "done" | "error">("idle")
  const [exportError, setExportError] = createSignal("")
  let svg: SVGSVGElement | undefined
  let container: HTMLDivElement | undefined
  let heading: HTMLHeadingElement | undefined

  onMount(() => heading?.focus())
  // One layout and one d3 join per chain; hovering and focusing only update the details box.
  const [view, setView] = createSignal<"stop" | "all">("stop")
  const stopWindow = createMemo(() => focusDomain(model()))
  createEffect(
    on([model, view, stopWindow], ([current, shown, around]) => {
      if (!svg) return
      const measured = container?.clientWidth ?? 0
      const domain = shown === "stop" ? around : undefined
      renderTimeline(svg, current, { width: measured > 0 ? measured : (props.width ?? 960), onSelect: setFocused, ...(domain ? { domain } : {}) })
    }),
  )

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

  const read = () => props.data.read
  return (
    <section class="panel" data-testid="incident-panel" aria-labelledby="incident-panel-title">
      <header class="panel-header">
        <h2 id="incident-panel-title" tabindex="-1" ref={heading}>
          Why did this run stop?
        </h2>
        <Show when={props.onClose}>
          <button type="button" onClick={() => props.onClose?.()} data-testid="panel-close">
            Close
          </button>
        </Show>
      </header>

      <Show when={read().ok === false}>
        <p role="alert">{(read() as { error: string }).error}</p>
      </Show>
      <Show when={read().ok && incidents().length === 0}>
        <p data-testid="panel-headline">No interrupted run or crash is recorded in this export.</p>
      </Show>

      <Show when={incidents().length > 1}>
        <label class="field">
          <span>Run</span>
          <select data-testid="incident-select" value={chain()?.runId} onChange={(event) => setSelectedRun(event.currentTarget.value)}>
            <For each={incidents()}>{(item) => <option value={item.runId}>{`${item.runId} — ${item.classification}`}</option>}</For>
          </select>
        </label>
      </Show>

      <Show when={chain()}>
        {(current) => {
          const words = createMemo(() => headline(current()))
          return (
            <>
              <p class="headline" data-testid="panel-headline">
                <strong class={`verdict verdict-${words().verdict}`} data-testid="panel-verdict" data-verdict={words().verdict}>
                  {words().label}
                </strong>{" "}
                {words().sentence}
              </p>
              <p class="muted">
                Run <code>{current().runId}</code> — classification <code>{current().classification}</code>
                <Show when={current().phase}>, while {current().phase!.replaceAll("_", " ")}</Show>
              </p>
              <Show when={current().missing.length > 0}>
                <div class="missing" role="group" aria-label="Missing provenance fields">
                  <span>Missing:</span>
                  <ul>
                    <For each={current().missing}>
                      {(name) => (
                        <li class="missing-field" data-testid="missing-field" data-field={name}>
                          {name}
                        </li>
                      )}
                    </For>
                  </ul>
                </div>
              </Show>
              <Show when={(current().notRecorded ?? []).length > 0}>
                <div class="not-recorded" role="group" aria-label="Facts the writer could not record">
                  <span>Not recorded by the file's writer (not missing):</span>
                  <ul>
                    <For each={current().notRecorded}>{(name) => <li data-testid="not-recorded-field">{name}</li>}</For>
                  </ul>
                </div>
              </Show>
              <Show when={current().alsoRequestedBy.length > 0}>
                <p data-testid="also-requested">
                  Also requested:{" "}
                  {current()
                    .alsoRequestedBy.map((other) => `${other.operation ?? other.kind}${other.lifecycleId ? ` ${other.lifecycleId}` : ""} (#${other.seq}${other.late ? ", after the run had finished" : ""})`)
                    .join("; ")}
                </p>
              </Show>
            </>
          )
        }}
      </Show>

      <Show when={stopWindow()}>
        <div class="row" role="group" aria-label="Timeline window">
          <span class="muted small">Show:</span>
          <button type="button" class="quiet" aria-pressed={view() === "stop"} data-testid="timeline-view-stop" onClick={() => setView("stop")}>
            Around the stop
          </button>
          <button type="button" class="quiet" aria-pressed={view() === "all"} data-testid="timeline-view-all" onClick={() => setView("all")}>
            Whole session
          </button>
        </div>
      </Show>
      <div class="timeline" ref={container}>
        <svg data-testid="timeline-svg" ref={svg} role="group" aria-label="Timeline: one lane per hop, time left to right" />
      </div>
      <div class="timeline-details" data-testid="timeline-details" aria-live="polite">
        <Show when={focused()} fallback={<span class="muted">Hover or focus a mark to see its fields.</span>}>
          {(mark) => (
            <dl>
              <dt>{LANE_TITLES[mark().lane]}</dt>
              <dd>{mark().label}</dd>
              <FieldList fields={mark().fields} />
            </dl>
          )}
        </Show>
      </div>

      <Show when={chain()}>
        {(current) => (
          <>
            <details class="records" open>
              <summary>Records on this chain</summary>
              <ul class="hops">
                <For each={current().links}>
                  {(link) => (
                    <li data-testid="hop" data-hop={link.hop} data-status={link.status}>
                      <strong>{link.hop.replace("_", " ")}</strong>: {link.status.replaceAll("_", " ")}
                      {link.ref ? ` — ${link.ref}` : ""}
                      {link.source === "client_reported" ? " (client-reported)" : ""}
                    </li>
                  )}
                </For>
              </ul>
              <For each={model().marks.filter((mark) => mark.onChain || mark.alsoRequested)}>
                {(mark) => (
                  <div class="record" data-testid="record">
                    <h3>
                      {LANE_TITLES[mark.lane]}: {mark.label}
                      {mark.alsoRequested ? " (also requested)" : ""}
                    </h3>
                    <dl>
                      <FieldList fields={mark.fields} />
                    </dl>
                  </div>
                )}
              </For>
            </details>
            <p class="retry" data-testid="retry-statement" data-safe={String(current().retry.safe)}>
              {retryStatement(current().retry)}
            </p>
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

      <Show when={props.onExport}>
        <div class="row">
          <button type="button" data-testid="export-button" disabled={exportState() === "busy"} onClick={() => void runExport()}>
            Export diagnostics
          </button>
          <span role="status" class="muted">
            {exportState() === "busy" ? "Exporting…" : exportState() === "done" ? "Downloaded." : exportState() === "error" ? `Export failed: ${exportError()}` : ""}
          </span>
        </div>
      </Show>
    </section>
  )
}

/** A record's fields as `<dt>`/`<dd>` pairs, inside the caller's `<dl>`. */
function FieldList(props: { fields: readonly (readonly [string, string])[] }) {
  return (
    <For each={props.fields}>
      {([key, value]) => (
        <>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </>
      )}
    </For>
  )
}
