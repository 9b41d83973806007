/**
 * The event history as a real history: one numbered event a row, Temporal style (relative and
 * absolute time). Each row is a button that expands in place to every recorded attribute of the
 * record it was read from, ids included, in a monospace block; rows filter by the kind of record
 * and sort either way, each keeping its number; pointing at or focusing a row links it to the
 * waterfall rows drawing the same record, and back.
 */
import { createMemo, createSignal, For, on, createEffect, Show } from "solid-js"
import type { IncidentChain } from "opencode/provenance"
import type { ExportData } from "./export-data.ts"
import { type HistoryRecordKind, ROW_ID } from "./history-source.ts"
import { clockMs, eventHistory, type StoryContext } from "./story.ts"

/** The filters, in the order they are offered. */
const HISTORY_KINDS: readonly HistoryRecordKind[] = ["action", "request", "lifecycle", "run"]

const KIND_LABEL: Record<Exclude<HistoryRecordKind, "action">, string> = {
  request: "Requests",
  lifecycle: "Project lifecycle",
  run: "The run",
}

const ACTION_ROW_PREFIX = ROW_ID.action("")

/**
 * The clicks' filter: "Your actions" only when every click listed was made in this app tab; a
 * click in another app window (or one whose tab is not known) is an app action, not the user's.
 */
export function actionFilterLabel(
  actionIds: readonly string[],
  isOwnAction: ((actionId: string | undefined) => boolean) | undefined,
): string {
  const own = actionIds.length > 0 && isOwnAction !== undefined && actionIds.every((id) => isOwnAction(id))
  return own ? "Your actions" : "App actions"
}

interface EventHistoryProps {
  chain: IncidentChain
  data: ExportData
  context: StoryContext
  /** Waterfall row ids the pointer or the focus is on: the history rows drawn from them are marked. */
  linked?: ReadonlySet<string>
  /** The pointer or the focus entering a row (its waterfall row ids) or leaving it ([]). */
  onHover?: (rowIds: string[]) => void
}

export function EventHistory(props: EventHistoryProps) {
  const items = createMemo(() => eventHistory(props.chain, props.data.records, props.context))
  // One entry per event, numbered in time order: filtering and sorting reuse them, so each keeps its number.
  const entries = createMemo(() => items().map((item, index) => ({ item, n: index + 1 })))
  const t0 = () => items()[0]?.at ?? 0
  const [hiddenKinds, setHiddenKinds] = createSignal<ReadonlySet<HistoryRecordKind>>(new Set())
  const [newestFirst, setNewestFirst] = createSignal(false)
  const [open, setOpen] = createSignal<ReadonlySet<number>>(new Set())
  // Another run's history starts collapsed.
  createEffect(on(items, () => setOpen(new Set<number>()), { defer: true }))
  const visible = createMemo(() => {
    const list = entries().filter((entry) => !hiddenKinds().has(entry.item.recordKind))
    return newestFirst() ? [...list].reverse() : list
  })
  const count = (kind: HistoryRecordKind) => items().filter((item) => item.recordKind === kind).length
  const label = (kind: HistoryRecordKind) => {
    if (kind !== "action") return KIND_LABEL[kind]
    const ids = items()
      .filter((item) => item.recordKind === "action")
      .flatMap((item) => item.rowIds.filter((id) => id.startsWith(ACTION_ROW_PREFIX)))
      .map((id) => id.slice(ACTION_ROW_PREFIX.length))
    return actionFilterLabel(ids, props.context.isOwnAction)
  }
  const toggleKind = (kind: HistoryRecordKind) => {
    const next = new Set(hiddenKinds())
    if (!next.delete(kind)) next.add(kind)
    setHiddenKinds(next)
  }
  const toggleOpen = (n: number) => {
    const next = new Set(open())
    if (!next.delete(n)) next.add(n)
    setOpen(next)
  }
  const isLinked = (rowIds: string[]) => rowIds.some((id) => props.linked?.has(id))
  return (
    <section class="history" aria-labelledby="history-title">
      <h3 id="history-title">Event history</h3>
      <div class="history-controls">
        <div class="row" role="group" aria-label="Show events from" data-testid="history-filters">
          <For each={HISTORY_KINDS}>
            {(kind) => (
              <button
                type="button"
                class="quiet"
                aria-pressed={!hiddenKinds().has(kind)}
                data-testid="history-filter"
                data-kind={kind}
                onClick={() => toggleKind(kind)}
              >
                {label(kind)} <span class="count">({count(kind)})</span>
              </button>
            )}
          </For>
        </div>
        <div class="row" role="group" aria-label="Order">
          <button
            type="button"
            class="quiet"
            aria-pressed={!newestFirst()}
            data-testid="history-sort"
            data-order="oldest"
            onClick={() => setNewestFirst(false)}
          >
            Oldest first
          </button>
          <button
            type="button"
            class="quiet"
            aria-pressed={newestFirst()}
            data-testid="history-sort"
            data-order="newest"
            onClick={() => setNewestFirst(true)}
          >
            Newest first
          </button>
        </div>
      </div>
      <ol class="events" data-testid="event-history">
        <For each={visible()}>
          {(entry) => {
            const item = entry.item
            const expanded = () => open().has(entry.n)
            const id = `history-attributes-${entry.n}`
            return (
              <li
                class={`event event-${item.kind}`}
                classList={{ "event-linked": isLinked(item.rowIds) }}
                data-testid="history-item"
                data-kind={item.kind}
                data-record-kind={item.recordKind}
                data-linked={isLinked(item.rowIds) ? "true" : undefined}
                onMouseEnter={() => props.onHover?.(item.rowIds)}
                onMouseLeave={() => props.onHover?.([])}
                onFocusIn={() => props.onHover?.(item.rowIds)}
                onFocusOut={() => props.onHover?.([])}
              >
                <button
                  type="button"
                  class="event-toggle"
                  aria-expanded={expanded()}
                  aria-controls={expanded() ? id : undefined}
                  data-testid="history-toggle"
                  onClick={() => toggleOpen(entry.n)}
                >
                  <span class="event-n" aria-hidden="true">
                    {entry.n}
                  </span>
                  <span class="event-words">{item.words}</span>
                  <span class="event-time">
                    <span class="event-rel">+{((item.at - t0()) / 1_000).toFixed(2)} s</span>{" "}
                    <time datetime={new Date(item.at).toISOString()}>{clockMs(item.at)}</time>
                  </span>
                </button>
                <Show when={expanded()}>
                  <dl class="event-attributes" id={id} data-testid="history-attributes">
                    <FieldList fields={item.attributes.map(([key, value]) => [key, withClock(key, value)] as const)} />
                  </dl>
                </Show>
              </li>
            )
          }}
        </For>
      </ol>
      <Show when={visible().length === 0}>
        <p class="muted">No event of the kinds shown.</p>
      </Show>
    </section>
  )
}

/** A recorded time (`time`, `startedAt`, …) as recorded, with the clock beside it. */
function withClock(key: string, value: string): string {
  const name = key.slice(key.lastIndexOf(".") + 1)
  return (name === "time" || name.endsWith("At")) && /^\d{10,}$/.test(value)
    ? `${value} (${clockMs(Number(value))})`
    : value
}

/** A record's fields as `<dt>`/`<dd>` pairs, inside the caller's `<dl>`. */
export function FieldList(props: { fields: readonly (readonly [string, string])[] }) {
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
