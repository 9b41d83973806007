/**
 * The project's lifecycle actions and the status line that links each one to the lifecycle
 * action the server ran for it ("Reload project → lifecycle lc_… finished, closed 1 run").
 */
import { useQueryClient } from "@tanstack/solid-query"
import { createSignal, For, Show } from "solid-js"
import { type AppActionName, useClientActions } from "../context/client-action.tsx"
import { useProject } from "../context/project.tsx"
import { actionLabel, statusLine } from "../diagnostics/lifecycle-link.ts"

interface ProjectAction {
  name: AppActionName
  path: string
  testId: string
  /** Confirm first: it closes every project's runs. */
  confirm?: string
}

export const PROJECT_ACTIONS: readonly ProjectAction[] = [
  { name: "instance.reload", path: "/instance/reload", testId: "reload-button" },
  { name: "instance.dispose", path: "/instance/dispose", testId: "dispose-button" },
  { name: "global.dispose", path: "/global/dispose", testId: "dispose-all-button", confirm: "Dispose every open project? Their running sessions will stop." },
  { name: "project.git.init", path: "/project/git/init", testId: "git-init-button" },
]

export function ProjectActions() {
  const project = useProject()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const [busy, setBusy] = createSignal<string | undefined>()

  const run = async (action: ProjectAction) => {
    if (action.confirm && typeof window.confirm === "function" && !window.confirm(action.confirm)) return
    setBusy(action.name)
    try {
      await actions.runAction(action.name, (api) => api.post(action.path))
    } catch {
      // The status line shows the failure.
    } finally {
      setBusy(undefined)
      void queryClient.invalidateQueries()
    }
  }

  const latest = () => actions.recent().filter((item) => item.name !== "session.export").slice(-3).reverse()
  return (
    <Show when={project.directory()}>
      <div class="project-actions" role="toolbar" aria-label="Project actions">
        <For each={PROJECT_ACTIONS}>
          {(action) => (
            <button type="button" data-testid={action.testId} disabled={busy() === action.name} onClick={() => void run(action)}>
              {actionLabel(action.name)}
            </button>
          )}
        </For>
      </div>
      <div class="status-line" role="status" aria-live="polite" data-testid="action-status">
        <For each={latest()}>{(item, index) => <div class={index() === 0 ? "" : "muted small"}>{statusLine(item)}</div>}</For>
      </div>
    </Show>
  )
}
