/** The project's config (`GET /config`) as JSON text; Save sends the parsed object with `PATCH /config`. */
import { createQuery, useQueryClient } from "@tanstack/solid-query"
import { createEffect, createSignal, Show } from "solid-js"
import { useClientActions } from "../context/client-action.tsx"
import { useProject } from "../context/project.tsx"
import { queryKeys } from "../context/queries.ts"
import { useServer } from "../context/server-context.tsx"
import { ConfigDocument } from "../context/shapes.ts"
import { activeRuns, confirmStop } from "./confirm-dialog.tsx"

export function ConfigEditor() {
  const project = useProject()
  const server = useServer()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const [text, setText] = createSignal("")
  const [dirty, setDirty] = createSignal(false)
  const [message, setMessage] = createSignal<{ kind: "error" | "ok"; text: string } | undefined>()

  const config = createQuery(() => ({
    queryKey: queryKeys.config(project.directory()),
    queryFn: () => server.read("/config", ConfigDocument),
  }))
  createEffect(() => {
    const data = config.data
    if (data !== undefined && !dirty()) setText(JSON.stringify(data, null, 2))
  })

  const save = async () => {
    let parsed: unknown
    try {
      parsed = JSON.parse(text())
    } catch (error) {
      setMessage({ kind: "error", text: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` })
      return
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      setMessage({ kind: "error", text: "The config must be a JSON object." })
      return
    }
    const directory = project.directory()
    const active = directory ? await activeRuns(server.connection, [directory]) : []
    if (!(await confirmStop({ title: "Save opencode.json? Saving closes this project.", active, confirmLabel: "Save and stop the runs" }))) return
    try {
      const saved = await actions.runAction("config.save", (api) => api.patch("/config", parsed, ConfigDocument))
      setDirty(false)
      queryClient.setQueryData(queryKeys.config(project.directory()), saved)
      setText(JSON.stringify(saved, null, 2))
      setMessage({ kind: "ok", text: "Saved." })
    } catch (error) {
      setMessage({ kind: "error", text: error instanceof Error ? error.message : String(error) })
    }
  }

  return (
    <section class="card" aria-labelledby="config-title">
      <h2 id="config-title">Project config</h2>
      <label class="field" for="config-text">
        <span>opencode.json</span>
        <textarea
          id="config-text"
          data-testid="config-textarea"
          rows={8}
          spellcheck={false}
          value={text()}
          onInput={(event) => {
            setDirty(true)
            setText(event.currentTarget.value)
          }}
        />
      </label>
      <div class="row">
        <button type="button" data-testid="config-save-button" onClick={() => void save()}>
          Save config
        </button>
        <button
          type="button"
          class="quiet"
          onClick={() => {
            setDirty(false)
            setMessage(undefined)
            void config.refetch()
          }}
        >
          Revert
        </button>
        <Show when={message()}>
          {(shown) => (
            <span role={shown().kind === "error" ? "alert" : "status"} class={shown().kind === "error" ? "error" : "muted"}>
              {shown().text}
            </span>
          )}
        </Show>
      </div>
      <Show when={config.isError}>
        <p class="error">The config could not be loaded: {(config.error as Error | null)?.message}</p>
      </Show>
    </section>
  )
}
