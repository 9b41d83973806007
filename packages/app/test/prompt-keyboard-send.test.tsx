/**
 * Ctrl/Cmd+Enter in the prompt box sends even when the Send button is disabled: while a run is
 * active, while a send is still on its way, and while the server is down.
 */
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { PromptBox } from "../src/pages/session-view.tsx"
import { fakeFetch } from "./helpers.ts"

afterEach(() => cleanup())

function renderBox(running: boolean, serverDown = false) {
  const sent: string[] = []
  const connection = createServerConnection({
    baseUrl: "http://127.0.0.1:4096",
    directory: () => "/p",
    fetchImpl: fakeFetch().impl,
  })
  const actions = createRoot(() => createClientActions({ connection, page: () => "/session/ses_1" }))
  render(() => (
    <ClientActionProvider state={actions}>
      <PromptBox
        sessionPath="/session/ses_1"
        running={running}
        serverDown={serverDown}
        send={(text) => {
          sent.push(text)
          return new Promise<void>(() => {}) // never answered: the send stays on its way
        }}
      />
    </ClientActionProvider>
  ))
  const textarea = screen.getByTestId("prompt-textarea") as HTMLTextAreaElement
  fireEvent.input(textarea, { target: { value: "CANARY prompt" } })
  const ctrlEnter = () => fireEvent.keyDown(textarea, { key: "Enter", ctrlKey: true })
  return { sent, ctrlEnter }
}

describe("prompt box keyboard send", () => {
  it("does not send while a run is active (Send is disabled)", async () => {
    const box = renderBox(true)
    expect((screen.getByTestId("send-button") as HTMLButtonElement).disabled).toBe(true)
    box.ctrlEnter()
    await new Promise((r) => setTimeout(r, 20))
    expect(box.sent).toEqual([])
  })

  it("does not send twice while the first send is on its way", async () => {
    const box = renderBox(false)
    box.ctrlEnter()
    await waitFor(() => expect(box.sent.length).toBe(1))
    expect((screen.getByTestId("send-button") as HTMLButtonElement).disabled).toBe(true)
    box.ctrlEnter()
    await new Promise((r) => setTimeout(r, 20))
    expect(box.sent.length).toBe(1)
  })

  it("does not send while the server is down", async () => {
    const box = renderBox(false, true)
    box.ctrlEnter()
    await new Promise((r) => setTimeout(r, 20))
    expect(box.sent).toEqual([])
  })
})
