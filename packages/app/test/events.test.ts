import { describe, expect, it, vi } from "vitest"
import { parseServerEvent } from "../src/context/events.tsx"
import { exportFor } from "./fixtures.ts"

describe("event stream parsing", () => {
  it("parses a part update with its part", () => {
    const event = parseServerEvent(
      JSON.stringify({
        type: "message.part.updated",
        properties: {
          part: { id: "prt_1", sessionID: "ses_1", messageID: "msg_1", type: "text", text: "Hel" },
          delta: "l",
        },
      }),
    )
    expect(event).toEqual({
      type: "message.part.updated",
      properties: {
        part: { id: "prt_1", sessionID: "ses_1", messageID: "msg_1", type: "text", text: "Hel" },
        delta: "l",
      },
    })
  })

  it("parses lifecycle and run events through the spine's schemas", () => {
    const doc = exportFor("diagnosed")
    const action = doc.diagnostics.lifecycle[0]!
    expect(parseServerEvent(JSON.stringify({ type: "lifecycle.action.finished", properties: { action } }))?.type).toBe(
      "lifecycle.action.finished",
    )
    const summary = doc.diagnostics.runs[0]!
    const finished = parseServerEvent(
      JSON.stringify({ type: "run.finished", properties: { summary, incident: { broken: true } } }),
    )
    expect(finished?.type).toBe("run.finished")
    // A malformed incident costs only the incident, not the summary.
    expect(finished && finished.type === "run.finished" ? finished.properties.incident : "x").toBeUndefined()
  })

  it("drops events whose shape the app relies on but which do not parse", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {})
    expect(
      parseServerEvent(
        JSON.stringify({ type: "lifecycle.action.started", properties: { action: { lifecycleId: "nope" } } }),
      ),
    ).toBeUndefined()
    expect(warn).toHaveBeenCalled()
    expect(parseServerEvent("not json")).toBeUndefined()
    expect(parseServerEvent(JSON.stringify({ type: "something.new", properties: {} }))).toBeUndefined()
    warn.mockRestore()
  })
})
