/** The renderer: providers (server, events, client actions, queries) around the router. */
import { A, Route, Router, type RouteSectionProps } from "@solidjs/router"
import { QueryClient, QueryClientProvider } from "@tanstack/solid-query"
import { onCleanup, Show } from "solid-js"
import { ClientActionProvider, createClientActions } from "./context/client-action.tsx"
import { createEventHub, EventsProvider, useEvents } from "./context/events.tsx"
import { createProjectState, ProjectProvider, useProject } from "./context/project.tsx"
import { ROUTES, RUN_SUBPATH } from "./context/routes.ts"
import { createServerConnection } from "./context/server.ts"
import { ServerProvider } from "./context/server-context.tsx"
import { ConfirmHost } from "./pages/confirm-dialog.tsx"
import { ProjectActions } from "./pages/project-actions.tsx"
import { ProjectPicker } from "./pages/project-picker.tsx"
import { SessionList } from "./pages/session-list.tsx"
import { SessionView } from "./pages/session-view.tsx"

export function App() {
  const project = createProjectState()
  const connection = createServerConnection({ directory: project.directory })
  const hub = createEventHub()
  const actions = createClientActions({ connection, events: hub })
  onCleanup(actions.log.autoFlush())
  const queryClient = new QueryClient({
    defaultOptions: { queries: { refetchOnWindowFocus: false, retry: 1, staleTime: 2_000 } },
  })

  return (
    <QueryClientProvider client={queryClient}>
      <ProjectProvider state={project}>
        <ServerProvider connection={connection}>
          <EventsProvider hub={hub} url={() => (project.directory() ? connection.eventUrl() : undefined)}>
            <ClientActionProvider state={actions}>
              <Router root={Layout}>
                <Route path={ROUTES.picker} component={ProjectPicker} />
                <Route path={ROUTES.sessions} component={SessionList} />
                {/* One session page whether or not a run's explanation is open: opening and closing it keeps the page mounted. */}
                <Route path={ROUTES.session} component={SessionView}>
                  <Route path="/" />
                  <Route path={RUN_SUBPATH} />
                </Route>
                <Route path="*" component={ProjectPicker} />
              </Router>
            </ClientActionProvider>
          </EventsProvider>
        </ServerProvider>
      </ProjectProvider>
    </QueryClientProvider>
  )
}

function Layout(props: RouteSectionProps) {
  const project = useProject()
  const events = useEvents()
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(event) => {
          // Move focus, not just the scroll position, so the next Tab starts inside the page.
          event.preventDefault()
          document.getElementById("main")?.focus()
        }}
      >
        Skip to content
      </a>
      <header class="app-header">
        <div class="row spread">
          <A href={ROUTES.picker} class="brand">
            opencode
          </A>
          <Show when={project.directory()}>
            <span class="project-dir" title={project.directory()}>
              <A href={ROUTES.picker} aria-label="Change project">
                {project.directory()}
              </A>
            </span>
            <span
              class={`stream stream-${events.status()}`}
              role="status"
              aria-label={`Event stream ${events.status()}`}
            >
              {events.status() === "open" ? "live" : events.status()}
            </span>
          </Show>
        </div>
        <ProjectActions />
      </header>
      <main id="main" tabindex="-1">
        <Show when={project.directory() && events.status() === "reconnecting"}>
          <p class="banner banner-down" role="alert" data-testid="server-down">
            The server is not answering. Runs cannot be started or stopped, nor the project reloaded or closed, until it
            is back; this page reconnects by itself.
          </p>
        </Show>
        {props.children}
      </main>
      <ConfirmHost />
    </>
  )
}
