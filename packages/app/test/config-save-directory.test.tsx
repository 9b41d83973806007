/**
 * Save config counts the runs of the project selected at the click, then PUTs the text with
 * whatever project is selected when that count answers. Two projects without an opencode.json
 * share the ETag "none", so If-Match does not stop it: project A's text is written as project
 * B's opencode.json (and B's instance is closed).
 */
import { QueryClient, QueryClientProvider } from "@tanstack/solid-query"
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createEventHub, EventsProvider } from "../src/context/events.tsx"
import { createProjectState, ProjectProvider } from "../src/context/project.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { ServerProvider } from "../src/context/server-context.tsx"
import { ConfigEditor } from "../src/pages/config-editor.tsx"

afterEach(() => cleanup())

describe("config save and the selected directory", () => {
  it("writes the text to the project it was edited in", async () => {
    let releaseStatusA!: () => void
    const statusA = new Promise<void>((resolve) => (releaseStatusA = resolve))
    const puts: { directory: string; body: unknown }[] = []
    const json = (body: unknown, etag?: string) =>
      new Response(JSON.stringify(body), {
        status: 200,
        headers: { "content-type": "application/json", ...(etag ? { etag } : {}) },
      })
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input))
      const method = init?.method ?? "GET"
      const directory = decodeURIComponent(
        ((init?.headers ?? {}) as Record<string, string>)["x-opencode-directory"] ?? "",
      )
      if (url.pathname === "/config" && method === "GET") return json({}, '"none"') // no file, in A as in B
      if (url.pathname === "/session/status") {
        if (directory === "/a") await statusA // A is busy: its status read waits
        return json({})
      }
      if (url.pathname === "/config" && method === "PUT") {
        puts.push({ directory, body: JSON.parse(String(init?.body)) })
        return json(JSON.parse(String(init?.body)), '"e1"')
      }
      return json({})
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
    const actions = createRoot(() => createClientActions({ connection, events: hub, page: () => "/sessions" }))
    render(() => (
      <QueryClientProvider client={new QueryClient()}>
        <ProjectProvider state={project}>
          <ServerProvider connection={connection}>
            <EventsProvider hub={hub}>
              <ClientActionProvider state={actions}>
                <ConfigEditor />
              </ClientActionProvider>
            </EventsProvider>
          </ServerProvider>
        </ProjectProvider>
      </QueryClientProvider>
    ))
    const textarea = screen.getByTestId("config-textarea") as HTMLTextAreaElement
    await waitFor(() => expect(textarea.value).toBe("{}"))
    fireEvent.input(textarea, { target: { value: '{"model":"CANARY_A/model"}' } })
    fireEvent.click(screen.getByTestId("config-save-button"))
    project.select("/b") // the user opens project B before A's count answers
    releaseStatusA()
    await waitFor(() => expect(puts.length).toBe(1))
    expect(puts[0]).toEqual({ directory: "/a", body: { model: "CANARY_A/model" } })
  })
})
