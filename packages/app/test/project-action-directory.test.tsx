/**
 * A project action counts the runs it would stop in the project selected at the click, then
 * sends the action with whatever project is selected when that count answers. A slow count for
 * project A and a switch to project B meanwhile: B is closed, unasked and uncounted.
 */
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { QueryClient, QueryClientProvider } from "@tanstack/solid-query"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createEventHub, EventsProvider } from "../src/context/events.tsx"
import { createProjectState, ProjectProvider } from "../src/context/project.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { ConfirmHost } from "../src/pages/confirm-dialog.tsx"
import { ProjectActions } from "../src/pages/project-actions.tsx"
import { fakeFetch } from "./helpers.ts"

afterEach(() => cleanup())

describe("project actions and the selected directory", () => {
  it("closes the project whose runs it counted, not the one selected since", async () => {
    let releaseStatusA!: () => void
    const statusA = new Promise<void>((resolve) => (releaseStatusA = resolve))
    const fake = fakeFetch(() => ({ body: {} }))
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const headers = (init?.headers ?? {}) as Record<string, string>
      if (String(input).endsWith("/session/status") && headers["x-opencode-directory"] === encodeURIComponent("/a"))
        await statusA // project A is busy: its status read waits
      return fake.impl(input, init)
    }) as typeof fetch
    const store = () => {
      const map = new Map<string, string>()
      return {
        getItem: (k: string) => map.get(k) ?? null,
        setItem: (k: string, v: string) => void map.set(k, v),
        removeItem: (k: string) => void map.delete(k),
      } as unknown as Storage
    }
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
    render(() => (
      <QueryClientProvider client={new QueryClient()}>
        <ProjectProvider state={project}>
          <ServerProvider connection={connection}>
            <EventsProvider hub={hub}>
              <ClientActionProvider state={actions}>
                <ProjectActions />
                <ConfirmHost />
              </ClientActionProvider>
            </EventsProvider>
          </ServerProvider>
        </ProjectProvider>
      </QueryClientProvider>
    ))

    fireEvent.click(screen.getByTestId("dispose-button")) // "Close project" while /a is selected
    await waitFor(() => expect(fake.requests.length).toBe(0))
    project.select("/b") // the user opens project B (the picker) before A's count answers
    releaseStatusA()
    await waitFor(() => expect(fake.requests.some((r) => r.url.endsWith("/instance/dispose"))).toBe(true))
    const dispose = fake.requests.find((r) => r.url.endsWith("/instance/dispose"))!
    expect(decodeURIComponent(dispose.headers["x-opencode-directory"]!)).toBe("/a")
  })
})
