/**
 * The project's lifecycle actions and the status line that links each one to the lifecycle
 * action the server ran for it, in words ("Reload project: done, 1 run stopped"); the lifecycle ids
 * are kept in `data-lifecycle-ids` for tests, not in the words.
 */
import { useQueryClient } from "@tanstack/solid-query"
import { createEffect, createSignal, For, on, Show } from "solid-js"
import { type AppActionName, useClientActions } from "../context/client-action.tsx"
import { useEvents } from "../context/events.tsx"
import { useProject } from "../context/project.tsx"
import { useServer } from "../context/server-context.tsx"
import { actionLabel, statusLine } from "../diagnostics/lifecycle-link.ts"
import { activeRuns, confirmStop, stopLabel } from "./confirm-dialog.tsx"

interface ProjectAction {
  name: AppActionName
  path: string
  testId: string
  /** It closes every project's instance, not only the selected one's. */
  everyProject?: boolean
  /** The confirmation's question. */
  question: string
}

export const PROJECT_ACTIONS: readonly ProjectAction[] = [
  { name: "instance.reload", path: "/instance/reload", testId: "reload-button", question: "Reload this project?" },
  { name: "instance.dispose", path: "/instance/dispose", testId: "dispose-button", question: "Close this project?" },
  {
    name: "global.dispose",
    path: "/global/dispose",
    testId: "dispose-all-button",
    everyProject: true,
    question: "Close every open project?",
  },
  {
    name: "project.git.init",
    path: "/project/git/init",
    testId: "git-init-button",
    question: "Run git init? The project reloads.",
  },
]

export function ProjectActions() {
  const project = useProject()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const server = useServer()
  const [busy, setBusy] = createSignal<string | undefined>()

  const [asking, setAsking] = createSignal(false)
  const events = useEvents()
  // While the event stream reconnects the server is not answering: no action could reach it.
  const serverDown = () => events.status() === "reconnecting"
  // Failures shown before the server came back are stale once it answers again.
  const [cleared, setCleared] = createSignal<ReadonlySet<string>>(new Set())
  createEffect(
    on(events.status, (status, previous) => {
      if (status !== "open" || previous === undefined || previous === "open") return
      const failed = actions
        .recent()
        .filter((item) => item.outcome === "error")
        .map((item) => item.actionId)
      if (failed.length > 0) setCleared((set) => new Set([...set, ...failed]))
    }),
  )

  const run = async (action: ProjectAction) => {
    if (busy() || asking() || serverDown()) return
    // The button keeps the focus while the app asks, so Cancel returns it there.
    setAsking(true)
    let ok = false
    // The project asked about is the one acted on, whatever is selected by the time the user confirms.
    const current = project.directory()
    try {
      const directories = action.everyProject
        ? [...(current ? [current] : []), ...project.recent()]
        : current
          ? [current]
          : []
      const active = await activeRuns(server.connection, directories)
      ok = await confirmStop({
        title: action.question,
        active,
        confirmLabel: stopLabel(actionLabel(action.name), active),
      })
    } finally {
      setAsking(false)
    }
    if (!ok) return
    setBusy(action.name)
    try {
      await actions.runAction(action.name, (api) =>
        api.request("POST", action.path, current ? { directory: current } : {}).then((answer) => answer.data),
      )
    } catch {
      // The status line shows the failure.
    } finally {
      setBusy(undefined)
      void queryClient.invalidateQueries()
    }
  }

  const latest = () =>
    actions
      .recent()
      .filter((item) => item.name !== "session.export" && !cleared().has(item.actionId))
      .slice(-3)
      .reverse()
  return (
    <Show when={project.directory()}>
      <div class="project-actions" role="toolbar" aria-label="Project actions">
        <For each={PROJECT_ACTIONS}>
          {(action) => (
            <button
              type="button"
              data-testid={action.testId}
              disabled={busy() === action.name || serverDown()}
              onClick={() => void run(action)}
            >
              {actionLabel(action.name)}
            </button>
          )}
        </For>
      </div>
      <div class="status-line" role="status" aria-live="polite" data-testid="action-status">
        <For each={latest()}>
          {(item, index) => (
            <div
              class={index() === 0 ? "" : "muted small"}
              data-lifecycle-ids={item.lifecycles.map((lc) => lc.lifecycleId).join(" ")}
            >
              {statusLine(item)}
            </div>
          )}
        </For>
      </div>
    </Show>
  )
}
