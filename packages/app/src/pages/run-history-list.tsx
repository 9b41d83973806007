/**
 * The session's run history: every run, newest first, with its start time, how long it ran and
 * how it ended in words. A stopped run links to its own explanation (`/app/session/:id/run/:runId`),
 * forever, however many runs came after it.
 */
import { For, Show } from "solid-js"
import { runPath } from "../context/routes.ts"
import { type RunHistoryRow, runTimeWords } from "../diagnostics/run-history.ts"
import { clock } from "../diagnostics/story.ts"
import { stableList } from "../context/stable-list.ts"

export function RunHistory(props: { rows: RunHistoryRow[]; sessionId: string; onOpen: (runId: string) => void }) {
  /** The rows by run: a rebuilt history changes a row in place, so a focused link stays (`stableList`). */
  const rows = stableList(
    () => props.rows,
    (row) => row.runId,
  )
  const startOf = (runId: string | undefined) => props.rows.find((row) => row.runId === runId)?.startedAt
  return (
    <section class="card run-history" aria-labelledby="run-history-title" data-testid="run-history">
      <h2 id="run-history-title" class="small-heading">
        Runs
      </h2>
      <ol class="run-rows">
        <For each={rows()}>
          {(row) => (
            <li
              class={`run-row${row.stopped ? " run-row-stopped" : ""}`}
              data-testid="run-history-row"
              data-run-id={row.runId}
              data-stopped={String(row.stopped)}
            >
              <span class="run-time">{runTimeWords(row)}</span>
              <span class="run-ending" data-testid="run-history-ending">
                {row.ending.charAt(0).toUpperCase() + row.ending.slice(1)}
                <Show
                  when={row.resendOf && startOf(row.resendOf) !== undefined}
                >{` (a resend of the run started at ${clock(startOf(row.resendOf)!)})`}</Show>
                <Show when={row.resentAs}>{"; resent"}</Show>
              </span>
              <Show when={row.stopped}>
                <a
                  class="run-explain"
                  data-testid="run-history-explain"
                  href={runPath(props.sessionId, row.runId)}
                  aria-haspopup="dialog"
                  onClick={(event) => {
                    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
                    event.preventDefault()
                    props.onOpen(row.runId)
                  }}
                >
                  Why did it stop?
                </a>
              </Show>
            </li>
          )}
        </For>
      </ol>
    </section>
  )
}
