/**
 * The prompt box keeps what the person typed: a send's answer clears the text it sent, never a
 * newer one typed while it was on its way.
 */
import { cleanup, fireEvent, render, screen, waitFor } from "@solidjs/testing-library"
import { createRoot } from "solid-js"
import { afterEach, describe, expect, it } from "vitest"
import { ClientActionProvider, createClientActions } from "../src/context/client-action.tsx"
import { createServerConnection } from "../src/context/server.ts"
import { PromptBox } from "../src/pages/session-view.tsx"
import { fakeFetch } from "./helpers.ts"

afterEach(() => cleanup())

function renderBox() {
  const sent: string[] = []
  const pending: (() => void)[] = []
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
        running={false}
        serverDown={false}
        send={(text) => {
          sent.push(text)
          return new Promise<void>((resolve) => pending.push(resolve))
        }}
      />
    </ClientActionProvider>
  ))
  const textarea = () => screen.getByTestId("prompt-textarea") as HTMLTextAreaElement
  const type = (value: string) => fireEvent.input(textarea(), { target: { value } })
  const submit = () => fireEvent.submit(screen.getByRole("form", { name: "Prompt" }))
  return { sent, pending, textarea, type, submit }
}

describe("prompt box", () => {
  it("a sent prompt is cleared once the send is answered", async () => {
    const box = renderBox()
    box.type("first prompt")
    box.submit()
    await waitFor(() => expect(box.sent).toEqual(["first prompt"]))
    box.pending[0]!()
    await waitFor(() => expect(box.textarea().value).toBe(""))
  })

  it("text typed while the send was on its way is kept when it is answered", async () => {
    const box = renderBox()
    box.type("first prompt")
    box.submit()
    await waitFor(() => expect(box.sent).toEqual(["first prompt"]))
    box.type("the next prompt, half written")
    box.pending[0]!()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(box.textarea().value).toBe("the next prompt, half written")
  })
})
