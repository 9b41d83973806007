/** The project picker: an absolute directory path, with the recent ones one click away. */
import { useNavigate } from "@solidjs/router"
import { createSignal, For, Show } from "solid-js"
import { proposedDirectory, useProject } from "../context/project.tsx"
import { ROUTES } from "../context/routes.ts"

export function ProjectPicker() {
  const project = useProject()
  const navigate = useNavigate()
  const [value, setValue] = createSignal(proposedDirectory(project))
  const [error, setError] = createSignal("")

  const open = (directory: string) => {
    const dir = directory.trim()
    if (!dir) return setError("Enter the project's directory.")
    if (!/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(dir)) return setError("Enter an absolute path (starting with / or a drive letter).")
    setError("")
    project.select(dir)
    navigate(ROUTES.sessions)
  }

  return (
    <section class="card picker" aria-labelledby="picker-title">
      <h1 id="picker-title">Open a project</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault()
          open(value())
        }}
      >
        <label class="field" for="project-dir">
          <span>Project directory</span>
          <input
            id="project-dir"
            data-testid="project-dir-input"
            type="text"
            spellcheck={false}
            autocomplete="off"
            placeholder="/home/me/project"
            value={value()}
            onInput={(event) => setValue(event.currentTarget.value)}
            aria-invalid={error() ? "true" : undefined}
            aria-describedby={error() ? "project-dir-error" : undefined}
          />
        </label>
        <Show when={error()}>
          <p id="project-dir-error" class="error" role="alert">
            {error()}
          </p>
        </Show>
        <button type="submit" data-testid="project-open-button">
          Open
        </button>
      </form>
      <Show when={project.recent().length > 0}>
        <h2>Recent</h2>
        <ul class="recent">
          <For each={project.recent()}>
            {(dir) => (
              <li>
                <button type="button" class="link" data-testid="recent-dir" onClick={() => open(dir)}>
                  {dir}
                </button>
                <button type="button" class="quiet" aria-label={`Forget ${dir}`} onClick={() => project.forgetRecent(dir)}>
                  ×
                </button>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </section>
  )
}
