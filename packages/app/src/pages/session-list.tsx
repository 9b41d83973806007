/** The sessions of the selected directory, newest first, with "New session". */
import { A, Navigate, useNavigate } from "@solidjs/router"
import { createInfiniteQuery, useQueryClient } from "@tanstack/solid-query"
import { createSignal, For, Match, Show, Switch } from "solid-js"
import { useClientActions } from "../context/client-action.tsx"
import { onServerEvent } from "../context/events.tsx"
import { useProject } from "../context/project.tsx"
import {
  applySessionToPages,
  flattenSessionPages,
  nextSessionCursor,
  queryKeys,
  sessionPageQuery,
  type SessionPages,
} from "../context/queries.ts"
import { ROUTES, sessionPath } from "../context/routes.ts"
import { plainError } from "../context/server.ts"
import { useServer } from "../context/server-context.tsx"
import { Session, SessionList as SessionListShape } from "../context/shapes.ts"
import { classificationWords } from "../diagnostics/glossary.ts"
import { ConfigEditor } from "./config-editor.tsx"

export function SessionList() {
  const project = useProject()
  return (
    <Show when={project.directory()} fallback={<Navigate href={ROUTES.picker} />}>
      <SessionListFor />
    </Show>
  )
}

function SessionListFor() {
  const project = useProject()
  const server = useServer()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [error, setError] = createSignal("")
  const [creating, setCreating] = createSignal(false)

  // The server answers a page of sessions (newest first); older pages load on demand.
  const sessions = createInfiniteQuery(() => ({
    queryKey: queryKeys.sessions(project.directory()),
    queryFn: ({ pageParam }: { pageParam: string | undefined }) =>
      server.read("/session", SessionListShape, sessionPageQuery(pageParam)),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: Session[]) => nextSessionCursor(last),
    // Events are applied only while this page is open: on coming back, read what was missed
    // (a session named by its first prompt, a run that ended).
    refetchOnMount: "always" as const,
  }))
  onServerEvent((event) => {
    if (event.type === "session.updated")
      queryClient.setQueryData(queryKeys.sessions(project.directory()), (data: SessionPages | undefined) =>
        applySessionToPages(data, event.properties.info),
      )
    if (event.type === "server.replay_gap" || event.type === "server.instance.disposed")
      void queryClient.invalidateQueries({ queryKey: queryKeys.sessions(project.directory()) })
  })

  const create = async () => {
    setCreating(true)
    setError("")
    // The project the session is created in; a late answer lists it there, and opens it only if
    // that project is still the one shown (never pulls the user back from another project).
    const directory = project.directory()
    try {
      const session = await actions.runAction("session.create", (api) => api.post("/session", {}, Session))
      queryClient.setQueryData(queryKeys.sessions(directory), (data: SessionPages | undefined) =>
        applySessionToPages(data, session),
      )
      if (project.directory() === directory) navigate(sessionPath(session.id))
    } catch (err) {
      setError(`New session failed: ${plainError(err)}`)
    } finally {
      setCreating(false)
    }
  }

  const sorted = () => flattenSessionPages(sessions.data)
  return (
    <div class="stack">
      <section class="card" aria-labelledby="sessions-title">
        <div class="row spread">
          <h1 id="sessions-title">Sessions</h1>
          <button type="button" data-testid="new-session-button" disabled={creating()} onClick={() => void create()}>
            New session
          </button>
        </div>
        <Show when={error()}>
          <p class="error" role="alert">
            {error()}
          </p>
        </Show>
        <Switch>
          <Match when={sessions.isError}>
            <p class="error" role="alert">
              Sessions could not be loaded: {(sessions.error as Error | null)?.message}
            </p>
          </Match>
          <Match when={sessions.isPending}>
            <p class="muted">Loading…</p>
          </Match>
          <Match when={sorted().length === 0}>
            <p class="muted">No sessions in this project yet.</p>
          </Match>
          <Match when={true}>
            <ul class="sessions" data-testid="session-list">
              <For each={sorted()}>
                {(session) => (
                  <li data-testid="session-item" data-session-id={session.id}>
                    <A href={sessionPath(session.id)}>
                      <span class="title">{session.title || session.id}</span>
                      <span class="muted small">{new Date(session.time.updated).toLocaleString()}</span>
                      <Show when={session.lastRun}>
                        {(run) => (
                          <span
                            data-testid="session-run-badge"
                            data-classification={run().classification}
                            class={`badge ${run().status === "running" ? "busy" : run().classification === "completed" || !run().classification ? "" : "warn"}`}
                          >
                            {run().status === "running"
                              ? "running"
                              : !run().classification || run().classification === "completed"
                                ? "finished"
                                : classificationWords(run().classification)}
                          </span>
                        )}
                      </Show>
                    </A>
                  </li>
                )}
              </For>
            </ul>
            <Show when={sessions.hasNextPage}>
              <button
                type="button"
                data-testid="older-sessions-button"
                disabled={sessions.isFetchingNextPage}
                onClick={() => void sessions.fetchNextPage()}
              >
                {sessions.isFetchingNextPage ? "Loading…" : "Older sessions"}
              </button>
            </Show>
          </Match>
        </Switch>
      </section>
      <ConfigEditor />
    </div>
  )
}
