/**
 * The project's config (`GET /config`) as JSON text; Save sends the parsed object with
 * `PUT /config`, which replaces the whole file, so a key deleted in the text is deleted on disk
 * (a merge PATCH could not delete it). The editor remembers the digest (`ETag`) of the file its
 * text came from: when the file changes on disk while the user edits, it says so, and a save
 * carries `If-Match`, so the server refuses (412) to write over an edit it has not shown. The
 * user then loads the file's version or saves the edit anyway, knowingly. What the user typed is
 * never replaced by an answer that lands after it (a read, a save's answer): Save writes what they see.
 */
import { createQuery, useQueryClient } from "@tanstack/solid-query"
import { batch, createEffect, createSignal, onCleanup, onMount, Show } from "solid-js"
import { useClientActions } from "../context/client-action.tsx"
import { onServerEvent } from "../context/events.tsx"
import { useProject } from "../context/project.tsx"
import { queryKeys } from "../context/queries.ts"
import { useServer } from "../context/server-context.tsx"
import { ServerError } from "../context/server.ts"
import { ConfigDocument } from "../context/shapes.ts"
import { activeRuns, confirmStop, stopLabel } from "./confirm-dialog.tsx"

/** While the user edits, the file is read again this often (the server's events cover most changes). */
const RECHECK_MS = 3_000

interface ConfigRead {
  doc: Record<string, unknown>
  etag?: string
}

export function ConfigEditor() {
  const project = useProject()
  const server = useServer()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const [text, setText] = createSignal("")
  const [dirty, setDirty] = createSignal(false)
  /** The ETag of the file the text came from. */
  const [base, setBase] = createSignal<string | undefined>()
  /** The save was refused: the file changed on disk first. */
  const [refused, setRefused] = createSignal(false)
  const [message, setMessage] = createSignal<{ kind: "error" | "ok"; text: string } | undefined>()

  const config = createQuery(() => ({
    queryKey: queryKeys.config(project.directory()),
    queryFn: async (): Promise<ConfigRead> => {
      const { data, etag } = await server.connection.request("GET", "/config", { schema: ConfigDocument })
      return etag ? { doc: data, etag } : { doc: data }
    },
    refetchInterval: dirty() ? RECHECK_MS : false,
  }))
  const show = (read: ConfigRead) => {
    setText(JSON.stringify(read.doc, null, 2))
    setBase(read.etag)
  }
  /** The digest of the file on disk as last known: the last read, or the answer to the last save. */
  const [diskEtag, setDiskEtag] = createSignal<string | undefined>()
  createEffect(() => {
    const data = config.data
    if (data !== undefined) setDiskEtag(data.etag)
    if (data !== undefined && !dirty()) show(data)
  })
  // A close of the project (an outside edit of opencode.json closes it) or coming back to the tab: read the file again.
  const recheck = () => void queryClient.invalidateQueries({ queryKey: queryKeys.config(project.directory()) })
  onServerEvent((event) => {
    if (
      event.type === "server.instance.disposed" ||
      event.type === "server.replay_gap" ||
      event.type === "lifecycle.action.finished"
    )
      recheck()
  })
  onMount(() => {
    window.addEventListener("focus", recheck)
    onCleanup(() => window.removeEventListener("focus", recheck))
  })

  /** The file on disk is no longer the one the text came from. */
  const changedOnDisk = () => dirty() && base() !== undefined && diskEtag() !== undefined && diskEtag() !== base()

  const save = async (ifMatch: string | undefined = base()) => {
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
    if (
      !(await confirmStop({
        title: "Save opencode.json? Saving closes this project.",
        active,
        confirmLabel: stopLabel("Save", active),
      }))
    )
      return
    setMessage(undefined)
    const sent = text()
    try {
      const saved = await actions.runAction("config.save", (api) =>
        api.request("PUT", "/config", {
          // The project the text was edited in, whatever is selected by the time the user confirms.
          ...(directory ? { directory } : {}),
          body: parsed,
          schema: ConfigDocument,
          ...(ifMatch ? { headers: { "if-match": ifMatch } } : {}),
        }),
      )
      const read: ConfigRead = saved.etag ? { doc: saved.data, etag: saved.etag } : { doc: saved.data }
      setRefused(false)
      queryClient.setQueryData(queryKeys.config(directory), read)
      if (text() === sent) {
        setDirty(false)
        show(read)
        setMessage({ kind: "ok", text: "Saved." })
      } else {
        // Typed while the save was on its way: that text stays, unsaved, over the file just written.
        batch(() => {
          setBase(read.etag)
          setDiskEtag(read.etag)
        })
        setMessage({ kind: "ok", text: "Saved; what you typed since is not saved yet." })
      }
    } catch (error) {
      if (error instanceof ServerError && error.code === "config_changed") {
        setRefused(true)
        recheck()
        return
      }
      setMessage({ kind: "error", text: error instanceof Error ? error.message : String(error) })
    }
  }
  const loadFromDisk = async () => {
    setDirty(false)
    setRefused(false)
    setMessage(undefined)
    const { data } = await config.refetch()
    // Typing since the click is the person's: a read that lands after it never replaces it.
    if (data && !dirty()) show(data)
  }
  const saveAnyway = async () => {
    const { data } = await config.refetch()
    await save(data?.etag)
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
          aria-describedby={changedOnDisk() || refused() ? "config-conflict" : undefined}
          onInput={(event) => {
            setDirty(true)
            setText(event.currentTarget.value)
          }}
        />
      </label>
      <Show when={changedOnDisk() || refused()}>
        <div class="banner conflict" id="config-conflict" role="alert" data-testid="config-conflict">
          <span>
            opencode.json changed on disk since you opened it.
            {refused()
              ? " Your edit was not saved, so the other change is not lost."
              : " Save will not write over it without asking you."}
          </span>
          <button type="button" onClick={() => void loadFromDisk()}>
            Load the file's version
          </button>
          <Show when={refused()}>
            <button type="button" class="quiet" onClick={() => void saveAnyway()}>
              Save my edit anyway
            </button>
          </Show>
        </div>
      </Show>
      <div class="row">
        <button type="button" data-testid="config-save-button" onClick={() => void save()}>
          Save config
        </button>
        <button type="button" class="quiet" onClick={() => void loadFromDisk()}>
          Revert
        </button>
        <Show when={message()}>
          {(shown) => (
            <span
              role={shown().kind === "error" ? "alert" : "status"}
              class={shown().kind === "error" ? "error" : "muted"}
            >
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
