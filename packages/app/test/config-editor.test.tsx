/**
 * The config editor keeps what the person typed: a read of the file that lands after they started
 * typing again (the "Load the file's version" read, a save's answer) never replaces their text,
 * so Save writes what they see.
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

/** A promise and the function that settles it. */
function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((done) => (resolve = done))
  return { promise, resolve }
}

/** The editor over a fake server whose file is `disk` (with its digest); `hold` and `holdPut` keep the next GET or PUT /config unanswered until released. */
function renderEditor() {
  const disk = { text: "{}", etag: '"e0"' }
  const puts: unknown[] = []
  let held: ReturnType<typeof deferred<void>> | undefined
  let heldPut: ReturnType<typeof deferred<void>> | undefined
  const arrived = { puts: 0 }
  const json = (body: unknown, etag?: string, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...(etag ? { etag } : {}) },
    })
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input))
    const method = init?.method ?? "GET"
    if (url.pathname === "/config" && method === "GET") {
      const wait = held
      held = undefined
      // What is on disk when the request arrives, answered when released.
      const answer = json(JSON.parse(disk.text), disk.etag)
      if (wait) await wait.promise
      return answer
    }
    if (url.pathname === "/config" && method === "PUT") {
      arrived.puts++
      const wait = heldPut
      heldPut = undefined
      if (wait) await wait.promise
      const body = JSON.parse(String(init?.body))
      puts.push(body)
      disk.text = JSON.stringify(body)
      disk.etag = `"e${puts.length}put"`
      return json(body, disk.etag)
    }
    if (url.pathname === "/session/status") return json({})
    if (url.pathname === "/diagnostics/renderer") return json({ accepted: 0, rejected: 0 })
    return json({ error: { code: "not_found", message: "no" } }, undefined, 404)
  }) as typeof fetch
  const connection = createServerConnection({ baseUrl: "http://127.0.0.1:4096", directory: () => "/p", fetchImpl })
  const actions = createRoot(() => createClientActions({ connection, page: () => "/" }))
  const hub = createEventHub()
  const project = createProjectState({})
  project.select("/p")
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(() => (
    <QueryClientProvider client={queryClient}>
      <ServerProvider connection={connection}>
        <ClientActionProvider state={actions}>
          <ProjectProvider state={project}>
            <EventsProvider hub={hub}>
              <ConfigEditor />
            </EventsProvider>
          </ProjectProvider>
        </ClientActionProvider>
      </ServerProvider>
    </QueryClientProvider>
  ))
  const textarea = () => screen.getByTestId("config-textarea") as HTMLTextAreaElement
  const type = (value: string) => fireEvent.input(textarea(), { target: { value } })
  return {
    disk,
    puts,
    arrived,
    textarea,
    type,
    hold() {
      held = deferred<void>()
      return held
    },
    holdPut() {
      heldPut = deferred<void>()
      return heldPut
    },
    /** Another program edits the file; the server's event makes the editor read it again. */
    editOnDisk(text: string, etag: string) {
      disk.text = text
      disk.etag = etag
      hub.emit({ type: "server.instance.disposed", properties: { directory: "/p" } } as never)
    },
  }
}

describe("config editor", () => {
  it("typing after 'Load the file's version' is kept when that read lands late, and Save writes it", async () => {
    const editor = renderEditor()
    await waitFor(() => expect(editor.textarea().value).toBe("{}"))
    editor.type('{"theme":"dark"}')
    editor.editOnDisk('{"model":"scripted/slow"}', '"e1"')
    await screen.findByTestId("config-conflict")

    const late = editor.hold()
    fireEvent.click(screen.getByRole("button", { name: "Load the file's version" }))
    // The text already shows the file's version (the last read); the person edits it at once.
    await waitFor(() => expect(editor.textarea().value).toBe(JSON.stringify({ model: "scripted/slow" }, null, 2)))
    const edited = JSON.stringify({ model: "scripted/slow", theme: "dark" }, null, 2)
    editor.type(edited)
    late.resolve()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(editor.textarea().value).toBe(edited)

    fireEvent.click(screen.getByTestId("config-save-button"))
    await screen.findByText("Saved.")
    expect(editor.puts).toEqual([{ model: "scripted/slow", theme: "dark" }])
  })

  it("typing while a save is on its way is kept, unsaved, and the next Save writes it without a conflict", async () => {
    const editor = renderEditor()
    await waitFor(() => expect(editor.textarea().value).toBe("{}"))
    editor.type('{"theme":"dark"}')
    const late = editor.holdPut()
    fireEvent.click(screen.getByTestId("config-save-button"))
    await waitFor(() => expect(editor.arrived.puts).toBe(1))
    editor.type('{"theme":"light"}')
    late.resolve()
    await screen.findByText("Saved; what you typed since is not saved yet.")
    expect(editor.textarea().value).toBe('{"theme":"light"}')
    expect(screen.queryByTestId("config-conflict")).toBeNull()

    fireEvent.click(screen.getByTestId("config-save-button"))
    await screen.findByText("Saved.")
    expect(editor.puts).toEqual([{ theme: "dark" }, { theme: "light" }])
    expect(screen.queryByTestId("config-conflict")).toBeNull()
  })
})
