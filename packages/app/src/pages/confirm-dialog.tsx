/**
 * The app's own confirmation (never `window.confirm`): before an action that stops runs, it names
 * how many runs in which directories will stop. A native <dialog> opened modally, so focus is
 * trapped, Escape cancels, and focus returns to the button that asked.
 */
import { createSignal, For, onMount, Show } from "solid-js"
import type { ServerConnection } from "../context/server.ts"

interface ActiveRuns {
  directory: string
  runs: number
}

/** Runs in progress per directory, from `GET /session/status` (a read: it loads no instance). */
export async function activeRuns(connection: ServerConnection, directories: readonly string[]): Promise<ActiveRuns[]> {
  const out: ActiveRuns[] = []
  for (const directory of [...new Set(directories)]) {
    try {
      const { data } = await connection.request<Record<string, unknown>>("GET", "/session/status", { directory })
      const runs = data && typeof data === "object" ? Object.keys(data).length : 0
      if (runs > 0) out.push({ directory, runs })
    } catch {
      // A directory the server refuses (gone, not allowed) has no runs it could stop.
    }
  }
  return out
}

function runsWords(active: readonly ActiveRuns[]): string {
  const total = active.reduce((sum, item) => sum + item.runs, 0)
  const dirs = active.length
  return `${total} run${total === 1 ? "" : "s"} in ${dirs} director${dirs === 1 ? "y" : "ies"} will stop`
}

/** The accept button: what the action is, and the runs it stops ("Save and stop the run"). */
export function stopLabel(verb: string, active: readonly ActiveRuns[]): string {
  const total = active.reduce((sum, item) => sum + item.runs, 0)
  return `${verb} and stop ${total === 1 ? "the run" : `the ${total} runs`}`
}

interface Request {
  title: string
  active: ActiveRuns[]
  confirmLabel: string
  resolve: (ok: boolean) => void
}

const [pending, setPending] = createSignal<Request | undefined>()

/** Asks, when runs would stop; resolves true at once when none would. */
export function confirmStop(input: { title: string; active: ActiveRuns[]; confirmLabel: string }): Promise<boolean> {
  if (input.active.length === 0) return Promise.resolve(true)
  pending()?.resolve(false)
  return new Promise((resolve) => setPending({ ...input, resolve }))
}

/** Rendered once, in the layout. */
export function ConfirmHost() {
  return (
    <Show when={pending()} keyed>
      {(request) => <ConfirmDialog request={request} />}
    </Show>
  )
}

function ConfirmDialog(props: { request: Request }) {
  let dialog: HTMLDialogElement | undefined
  const returnTo = document.activeElement as HTMLElement | null
  const done = (ok: boolean) => {
    setPending(undefined)
    props.request.resolve(ok)
    returnTo?.focus?.()
  }
  onMount(() => {
    if (typeof dialog?.showModal === "function") dialog.showModal()
    else dialog?.setAttribute("open", "")
  })
  return (
    <dialog
      ref={dialog}
      class="confirm"
      data-testid="confirm-dialog"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      onCancel={(event) => {
        event.preventDefault()
        done(false)
      }}
    >
      <h2 id="confirm-title">{props.request.title}</h2>
      <p id="confirm-body" data-testid="confirm-text">
        {runsWords(props.request.active)}:
      </p>
      <ul data-testid="confirm-directories">
        <For each={props.request.active}>
          {(item) => (
            <li data-directory={item.directory}>
              {item.directory}: {item.runs} run{item.runs === 1 ? "" : "s"}
            </li>
          )}
        </For>
      </ul>
      <div class="row">
        <button type="button" class="danger" data-testid="confirm-accept" onClick={() => done(true)}>
          {props.request.confirmLabel}
        </button>
        <button type="button" class="quiet" data-testid="confirm-cancel" autofocus onClick={() => done(false)}>
          Cancel
        </button>
      </div>
    </dialog>
  )
}
