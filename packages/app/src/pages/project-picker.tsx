/**
 * The project picker: an absolute directory path, with the recent ones one click away. The
 * server checks the directory first (a read that opens nothing), so a path that does not exist
 * is refused here, in words, rather than on the next page as a failed load.
 */
import { useNavigate } from "@solidjs/router"
import { createSignal, For, Show } from "solid-js"
import { proposedDirectory, useProject } from "../context/project.tsx"
import { ROUTES } from "../context/routes.ts"
import { plainError, ServerError } from "../context/server.ts"
import { useServer } from "../context/server-context.tsx"

/** Why the server refused a directory, as the picker says it. */
function directoryRefusal(directory: string, error: unknown): string {
  if (error instanceof ServerError && error.code === "invalid_directory") {
    if (error.message.startsWith("directory does not exist"))
      return `There is no directory at ${directory}. Check the path and try again.`
    if (error.message.startsWith("not a directory")) return `${directory} is not a directory.`
  }
  return `This directory cannot be opened: ${plainError(error)}`
}

export function ProjectPicker() {
  const project = useProject()
  const navigate = useNavigate()
  const [value, setValue] = createSignal(proposedDirectory(project))
  const server = useServer()
  const [error, setError] = createSignal("")
  const [checking, setChecking] = createSignal(false)

  const open = async (directory: string) => {
    const dir = directory.trim()
    if (!dir) return setError("Enter the project's directory.")
    if (!/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(dir))
      return setError("Enter an absolute path (starting with / or a drive letter).")
    setChecking(true)
    try {
      await server.connection.request("GET", "/session/status", { directory: dir })
    } catch (err) {
      setValue(dir)
      return setError(directoryRefusal(dir, err))
    } finally {
      setChecking(false)
    }
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
          void open(value())
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
        <button type="submit" data-testid="project-open-button" disabled={checking()}>
          Open
        </button>
      </form>
      <Show when={project.recent().length > 0}>
        <h2>Recent</h2>
        <ul class="recent">
          <For each={project.recent()}>
            {(dir) => (
              <li>
                <button type="button" class="link" data-testid="recent-dir" onClick={() => void open(dir)}>
                  {dir}
                </button>
                <button
                  type="button"
                  class="quiet"
                  aria-label={`Forget ${dir}`}
                  onClick={() => project.forgetRecent(dir)}
                >
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
