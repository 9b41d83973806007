/**
 * A streamed text part whose event arrives after a read of the messages that already holds its
 * text (the read the prompt's answer triggers, while the run streams on) has its delta appended
 * a second time; with equal-size chunks (scripted/slow) every later chunk keeps the doubled text.
 */
import { screen, waitFor } from "@solidjs/testing-library"
import { describe, expect, it } from "vitest"
import { SESSION, T0 } from "./fixtures.ts"
import { renderSessionApp, sessionInfo } from "./session-app.tsx"

const step = (n: number) => `Working on step ${n} of 60.\n`
const text = (upTo: number) => Array.from({ length: upTo }, (_, i) => step(i + 1)).join("")
const part = (upTo: number) => ({ id: "prt_a", sessionID: SESSION, messageID: "msg_a", type: "text", text: text(upTo) })

describe("streamed text after a read that already holds it", () => {
  it("shows each chunk once", async () => {
    const app = renderSessionApp({
      directory: "/p",
      path: `/app/session/${SESSION}`,
      handler: (method, path) => {
        if (path === `/session/${SESSION}`) return sessionInfo()
        if (path.endsWith("/message"))
          // The server's state when the read ran: chunks 1 and 2 are stored.
          return [
            {
              info: { id: "msg_a", sessionID: SESSION, role: "assistant", time: { created: T0 }, runId: "run_1" },
              parts: [part(2)],
            },
          ]
        if (path.endsWith("/run"))
          return [{ runId: "run_1", sessionId: SESSION, model: "scripted/slow", status: "running", startedAt: T0 }]
        return []
      },
    })
    await screen.findByTestId("part-text")
    // Chunk 2's event was published (batched for up to 10 ms) before the read, and lands after it.
    app.hub.emit({ type: "message.part.updated", properties: { part: part(2), delta: step(2) } } as never)
    // The next chunks stream on.
    app.hub.emit({ type: "message.part.updated", properties: { part: part(3), delta: step(3) } } as never)
    app.hub.emit({ type: "message.part.updated", properties: { part: part(4), delta: step(4) } } as never)
    await waitFor(() => expect(screen.getByTestId("part-text").textContent).toContain("step 4"))
    expect(screen.getByTestId("part-text").textContent).toBe(text(4))
  })
})
