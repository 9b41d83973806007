/**
 * The panel's timeline: the d3 waterfall of the chain, its legend, and the details of the row
 * under the pointer or the focus. A row expands in place to its details (a click, Enter or
 * Space), "Cause path only" collapses the drawing to the path from the cause to the stop, and
 * rows linked to what the pointer or the focus is on in the event history are marked.
 */
import { createEffect, createMemo, createSignal, on, Show, untrack } from "solid-js"
import { FieldList } from "./event-history.tsx"
import { causePathOnly, rowDetails, type WaterfallModel, type WaterfallRow } from "./waterfall.ts"
import { highlightRows, renderWaterfall } from "./waterfall-render.ts"

interface TimelineProps {
  model: WaterfallModel | undefined
  width: number
  /** Not drawn while hidden (below 600 px the event history is shown instead). */
  hidden: boolean
  /** Row ids the pointer or the focus is on in the event history. */
  linked: ReadonlySet<string>
  /** The pointer or the focus entering a row ([its id]) or leaving it ([]). */
  onHover: (rowIds: string[]) => void
}

export function Timeline(props: TimelineProps) {
  const [focused, setFocused] = createSignal<WaterfallRow | undefined>(undefined)
  const [expanded, setExpanded] = createSignal<ReadonlySet<string>>(new Set())
  const [causeOnly, setCauseOnly] = createSignal(false)
  let svg: SVGSVGElement | undefined
  const shown = createMemo(() => {
    const model = props.model
    return model && causeOnly() ? causePathOnly(model) : model
  })
  const hiddenSteps = () => (props.model?.rows.length ?? 0) - (shown()?.rows.length ?? 0)
  // Another run's chain starts collapsed.
  createEffect(
    on(
      () => props.model,
      () => setExpanded(new Set<string>()),
      { defer: true },
    ),
  )
  const toggle = (row: WaterfallRow) => {
    const next = new Set(expanded())
    if (!next.delete(row.id)) next.add(row.id)
    setExpanded(next)
  }
  createEffect(
    on([shown, () => props.width, () => props.hidden, expanded], ([model, width, hidden, open]) => {
      if (!svg || !model || hidden) return
      renderWaterfall(svg, model, {
        width,
        expanded: open,
        onSelect: setFocused,
        onToggle: toggle,
        onHover: (row) => props.onHover(row ? [row.id] : []),
      })
      highlightRows(
        svg,
        untrack(() => props.linked),
      )
    }),
  )
  createEffect(() => {
    const ids = props.linked
    if (svg) highlightRows(svg, ids)
  })
  return (
    <div class="timeline" hidden={props.hidden}>
      <h3>Timeline</h3>
      <div class="row timeline-controls">
        <button
          type="button"
          class="quiet"
          aria-pressed={causeOnly()}
          data-testid="cause-path-toggle"
          onClick={() => setCauseOnly(!causeOnly())}
        >
          Cause path only
        </button>
        <span role="status" class="muted small">
          <Show when={causeOnly()}>
            <span data-testid="cause-path-hidden">
              {hiddenSteps() === 0
                ? "Every step is on the path."
                : hiddenSteps() === 1
                  ? "1 step off the path is hidden."
                  : `${hiddenSteps()} steps off the path are hidden.`}
            </span>
          </Show>
        </span>
      </div>
      <svg
        data-testid="timeline-svg"
        ref={svg}
        role="group"
        aria-label="Timeline: one row per step, from what stopped the run down to the run itself; press Enter on a row to expand its details"
      />
      <ul class="legend" aria-label="Legend">
        <li>
          <span class="key key-bar" aria-hidden="true" /> a step and how long it took
        </li>
        <li>
          <span class="key key-instant" aria-hidden="true" /> an instant
        </li>
        <li>
          <span class="key key-output" aria-hidden="true" /> output shown
        </li>
        <li>
          <span class="key key-tool" aria-hidden="true" /> tool started / done
        </li>
        <li>
          <span class="key key-stop" aria-hidden="true" /> stop signal
        </li>
        <li>
          <span class="key key-unknown" aria-hidden="true" /> unknown (server down)
        </li>
        <li>
          <span class="key key-missing" aria-hidden="true" /> not recorded
        </li>
        <Show when={(shown()?.segments.length ?? 0) > 1}>
          <li data-testid="legend-break">
            <span class="key key-break" aria-hidden="true">
              //
            </span>{" "}
            time axis broken: a quiet stretch is cut out
          </li>
        </Show>
      </ul>
      <div class="timeline-details" data-testid="timeline-details" aria-live="polite">
        <Show
          when={focused()}
          fallback={
            <span class="muted">
              Hover or focus a row to see its ids; click it or press Enter to expand it in place.
            </span>
          }
        >
          {(row) => (
            // Everything the drawing says of the row only to a pointer (its <title>s), said here to the keyboard too.
            <dl>
              <FieldList fields={rowDetails(row(), shown()?.t0 ?? row().start)} />
            </dl>
          )}
        </Show>
      </div>
    </div>
  )
}
