/** Renders the real SessionView (router, queries, events, actions) against a scripted fake server. */
import { render } from "@solidjs/testing-library"
import { A, Route, Router } from "@solidjs/router"
import { QueryClient, QueryClientProvider } from "@tanstack/solid-query"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createEventHub, EventsProvider } from "../src/context/events.tsx"
import { createProjectState, ProjectProvider } from "../src/context/project.tsx"
import { ROUTES, RUN_SUBPATH } from "../src/context/routes.ts"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { SessionView } from "../src/pages/session-view.tsx"
import type { RunSummary } from "opencode/provenance"
import { SESSION, T0 } from "./fixtures.ts"

export type Handler = (method: string, path: string, body: unknown) => unknown | Promise<unknown>

export interface Call {
  method: string
  path: string
  body?: unknown
}

function memoryStorage(): Storage {
  const map = new Map<string, string>()
  return {
    get length() {
      return map.size
    },
    clear: () => map.clear(),
    getItem: (key) => map.get(key) ?? null,
    key: (i) => [...map.keys()][i] ?? null,
    removeItem: (key) => void map.delete(key),
    setItem: (key, value) => void map.set(key, String(value)),
  }
}

export function renderSessionApp(opts: { directory: string; path: string; handler: Handler }) {
  window.history.replaceState(null, "", opts.path)
  const calls: Call[] = []
  let n = 0
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input))
    const method = init?.method ?? "GET"
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined
    calls.push({ method, path: url.pathname + url.search, body })
    const answer = await opts.handler(method, url.pathname, body)
    const status =
      answer && typeof answer === "object" && "__status" in answer ? (answer as { __status: number }).__status : 200
    const payload =
      answer && typeof answer === "object" && "__status" in answer ? (answer as { body?: unknown }).body : answer
    return new Response(payload === undefined ? "" : JSON.stringify(payload), {
      status,
      headers: { "content-type": "application/json", "x-opencode-request-id": `req_h${++n}` },
    })
  }) as typeof fetch
  const project = createProjectState({ session: memoryStorage(), local: memoryStorage() })
  project.select(opts.directory)
  const connection = createServerConnection({
    baseUrl: "http://127.0.0.1:4096",
    directory: project.directory,
    fetchImpl,
  })
  const hub = createEventHub()
  hub.setStatus("open")
  const actions = createClientActions({ connection, events: hub, page: () => window.location.pathname })
  const queryClient = new QueryClient({
    defaultOptions: { queries: { refetchOnWindowFocus: false, retry: false, staleTime: 2_000 } },
  })
  const result = render(() => (
    <QueryClientProvider client={queryClient}>
      <ProjectProvider state={project}>
        <ServerProvider connection={connection}>
          <EventsProvider hub={hub}>
            <ClientActionProvider state={actions}>
              <main id="main" tabindex="-1">
                <Router>
                  <Route
                    path={ROUTES.sessions}
                    component={() => (
                      <p data-testid="sessions-page">
                        <A href="/app/session/ses_b" data-testid="open-b">
                          B
                        </A>
                      </p>
                    )}
                  />
                  <Route path={ROUTES.session} component={SessionView}>
                    <Route path="/" />
                    <Route path={RUN_SUBPATH} />
                  </Route>
                </Router>
              </main>
            </ClientActionProvider>
          </EventsProvider>
        </ServerProvider>
      </ProjectProvider>
    </QueryClientProvider>
  ))
  return { ...result, calls, hub, actions, queryClient, project }
}

/** GET /session/:id's answer for a session of project /p. */
export function sessionInfo(id: string = SESSION, title = "t") {
  return { id, projectID: "p", directory: "/p", title, version: "0.1.0", time: { created: T0, updated: T0 } }
}

/** A finished run's row in GET /session/:id/run. */
export function finishedRun(summary: RunSummary | undefined, runId = summary?.runId ?? "run_one", startedAt = T0) {
  return { runId, sessionId: SESSION, model: "scripted/slow", status: "finished", startedAt, summary }
}
