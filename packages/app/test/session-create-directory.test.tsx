/**
 * New session answers late: the user opened another project meanwhile. The session belongs to
 * the project it was created in: it is listed there, never in the project shown now, and the
 * user is not pulled back to it.
 */
import { Route, Router } from "@solidjs/router"
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { QueryClient, QueryClientProvider } from "@tanstack/solid-query"
import { createRoot } from "solid-js"
import { afterEach, expect, test } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createEventHub, EventsProvider } from "../src/context/events.tsx"
import { createProjectState, ProjectProvider } from "../src/context/project.tsx"
import { queryKeys } from "../src/context/queries.ts"
import { ROUTES } from "../src/context/routes.ts"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { SessionList } from "../src/pages/session-list.tsx"
import { T0 } from "./fixtures.ts"

afterEach(() => cleanup())

const store = () => {
  const map = new Map<string, string>()
  return {
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  } as unknown as Storage
}

test("a late New session answer lists the session in its own project and does not navigate away from another", async () => {
  window.history.replaceState(null, "", ROUTES.sessions)
  let answerCreate!: () => void
  const created = new Promise<void>((resolve) => (answerCreate = resolve))
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input))
    const json = (body: unknown) =>
      new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } })
    if (url.pathname === "/session" && init?.method === "POST") {
      await created
      return json({
        id: "ses_new",
        projectID: "p",
        directory: "/a",
        title: "t",
        version: "0.1.0",
        time: { created: T0, updated: T0 },
      })
    }
    return json([])
  }) as typeof fetch
  const project = createProjectState({ session: store(), local: store() })
  project.select("/a")
  const connection = createServerConnection({
    baseUrl: "http://127.0.0.1:4096",
    directory: project.directory,
    fetchImpl,
  })
  const hub = createEventHub()
  hub.setStatus("open")
  const actions = createRoot(() => createClientActions({ connection, events: hub, page: () => "/sessions" }))
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(() => (
    <QueryClientProvider client={queryClient}>
      <ProjectProvider state={project}>
        <ServerProvider connection={connection}>
          <EventsProvider hub={hub}>
            <ClientActionProvider state={actions}>
              <Router>
                <Route path={ROUTES.sessions} component={SessionList} />
                <Route path="*" component={() => <p data-testid="elsewhere">elsewhere</p>} />
              </Router>
            </ClientActionProvider>
          </EventsProvider>
        </ServerProvider>
      </ProjectProvider>
    </QueryClientProvider>
  ))
  fireEvent.click(await screen.findByTestId("new-session-button"))
  project.select("/b")
  answerCreate()
  await waitFor(() => expect(queryClient.getQueryData(queryKeys.sessions("/a"))).toBeDefined())
  const idsIn = (directory: string) =>
    (
      (queryClient.getQueryData(queryKeys.sessions(directory)) as { pages: { id: string }[][] } | undefined)?.pages ??
      []
    )
      .flat()
      .map((session) => session.id)
  expect(idsIn("/a")).toContain("ses_new")
  expect(idsIn("/b")).not.toContain("ses_new")
  expect(window.location.pathname).toBe(ROUTES.sessions)
})
