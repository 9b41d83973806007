/**
 * Resend from a run's panel closes the panel once the server took the prompt. When the answer is
 * slow and the user moved on (left the session, closed the panel, opened it again), the late
 * answer must not move them: it closes only the panel it was sent from, while that panel is open.
 */
import { fireEvent, screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { describe, expect, it } from "vitest"
import { exportFor, SESSION, T0 } from "./fixtures.ts"
import { renderSessionApp, sessionInfo } from "./session-app.tsx"

const session = (id: string) => sessionInfo(id, id)

/** Session A (`SESSION`) with one stopped run, safe to resend; every other session is empty. The prompt's answer waits. */
function sessionA(opts: { path?: string } = {}) {
  const doc = exportFor("diagnosed")
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const summary = doc.diagnostics.runs[0]!
  let releasePrompt!: (value: unknown) => void
  const promptAnswer = new Promise((resolve) => (releasePrompt = resolve))
  const app = renderSessionApp({
    directory: "/p",
    path: opts.path ?? `/app/session/${SESSION}/run/run_one`,
    handler: (method, path) => {
      if (method === "POST" && path === "/diagnostics/renderer") return { accepted: 0, rejected: 0 }
      if (method === "POST" && path.endsWith("/prompt")) return promptAnswer
      const m = /^\/session\/([^/]+)(\/.*)?$/.exec(path)
      if (!m) return { __status: 404, body: { error: { code: "not_found", message: "no" } } }
      const [, id, rest] = m
      if (!rest) return session(decodeURIComponent(id!))
      if (rest === "/message")
        return id === SESSION
          ? [
              {
                info: { id: "msg_u", sessionID: SESSION, role: "user", time: { created: T0 }, runId: "run_one" },
                parts: [{ id: "prt_u", sessionID: SESSION, messageID: "msg_u", type: "text", text: "say hi" }],
              },
            ]
          : []
      if (rest === "/run")
        return id === SESSION
          ? [
              {
                runId: "run_one",
                sessionId: SESSION,
                model: "scripted/slow",
                status: "finished",
                startedAt: T0,
                summary,
              },
            ]
          : []
      if (rest === "/incident") return id === SESSION ? read.incidents : []
      if (rest === "/export") return doc
      return []
    },
  })
  const clickResend = async () => {
    fireEvent.click(await screen.findByTestId("resend-button", {}, { timeout: 5000 }))
    await waitFor(() => expect(app.calls.some((c) => c.method === "POST" && c.path.endsWith("/prompt"))).toBe(true))
  }
  const answer = async () => {
    releasePrompt({ runId: "run_two" })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { app, clickResend, answer }
}

describe("a late Resend answer", () => {
  it("closes the panel it was sent from while that panel is still open", async () => {
    const { clickResend, answer } = sessionA()
    await clickResend()
    await answer()
    await waitFor(() => expect(window.location.pathname).toBe(`/app/session/${SESSION}`))
    expect(screen.queryByTestId("incident-drawer")).toBeNull()
  })

  it("for session A does not take the user away from session B", async () => {
    const { clickResend, answer } = sessionA()
    await clickResend()
    // The user does not wait: Escape closes the panel, then they go to session B.
    fireEvent.keyDown(document, { key: "Escape" })
    await waitFor(() => expect(window.location.pathname).toBe(`/app/session/${SESSION}`))
    fireEvent.click(screen.getByText("Sessions"))
    fireEvent.click(await screen.findByTestId("open-b"))
    await waitFor(() => expect(window.location.pathname).toBe("/app/session/ses_b"))
    await waitFor(() => expect(screen.getByText("No messages yet. Send a prompt below.")).toBeTruthy())

    await answer()
    expect(window.location.pathname).toBe("/app/session/ses_b")
    expect(screen.getByText("No messages yet. Send a prompt below.")).toBeTruthy()
  })

  it("does not close the same run's panel opened again after the one it was sent from closed", async () => {
    const { clickResend, answer } = sessionA({ path: `/app/session/${SESSION}` })
    fireEvent.click(await screen.findByTestId("suspended-banner-button"))
    await clickResend()
    fireEvent.keyDown(document, { key: "Escape" })
    await waitFor(() => expect(window.location.pathname).toBe(`/app/session/${SESSION}`))
    await waitFor(() => expect(screen.queryByTestId("incident-drawer")).toBeNull())
    // The user opens the explanation again to read it.
    fireEvent.click(await screen.findByTestId("suspended-banner-button"))
    await waitFor(() => expect(window.location.pathname).toBe(`/app/session/${SESSION}/run/run_one`))
    await screen.findByTestId("resend-button", {}, { timeout: 5000 })

    await answer()
    expect(window.location.pathname).toBe(`/app/session/${SESSION}/run/run_one`)
    expect(screen.getByTestId("incident-drawer")).toBeTruthy()
  })
})
