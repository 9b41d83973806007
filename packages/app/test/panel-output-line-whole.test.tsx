/**
 * The panel's last output line is scrubbed whole, then cut: a secret early in a long line is
 * replaced by its marker and the words after it still show. Cut first, the line lost them, and a
 * cut through a secret left a prefix no rule could recognise.
 */
import { screen, waitFor } from "@solidjs/testing-library"
import { readExport } from "opencode/provenance/export-reader"
import { expect, it } from "vitest"
import { exportFor, SESSION, T0 } from "./fixtures.ts"
import { finishedRun, renderSessionApp, sessionInfo } from "./session-app.tsx"

const SECRET = `sk-proj-${"CNRY".repeat(20)}`

it("a long line with a secret early shows the marker and the words after it, never the secret", async () => {
  const doc = exportFor("diagnosed")
  const read = readExport(doc)
  if (!read.ok) throw new Error(read.error)
  const base = `/session/${SESSION}`
  renderSessionApp({
    directory: "/p",
    path: `/app/session/${SESSION}/run/run_one`,
    handler: (method, path) => {
      if (method === "POST") return { accepted: 0, rejected: 0 }
      if (path === base) return sessionInfo()
      if (path === `${base}/message`)
        return [
          {
            info: { id: "msg_a", sessionID: SESSION, role: "assistant", time: { created: T0 }, runId: "run_one" },
            parts: [
              {
                id: "prt_a",
                sessionID: SESSION,
                messageID: "msg_a",
                type: "text",
                text: `first line\nexport OPENAI_API_KEY=${SECRET} then wrote step three`,
              },
            ],
          },
        ]
      if (path === `${base}/run`) return [finishedRun(doc.diagnostics.runs[0])]
      if (path === `${base}/incident`) return read.incidents
      if (path === `${base}/export`) return doc
      return []
    },
  })
  await waitFor(() => expect(screen.getByTestId("incident-panel").textContent).toContain("Stopped:"), { timeout: 5000 })
  const text = screen.getByTestId("incident-panel").textContent!
  expect(text).toContain("then wrote step three")
  expect(text).toContain("[redacted:")
  expect(text).not.toMatch(/CNRY/)
})
