import { describe, expect, it } from "vitest"
import { applyMessageInfo, applyPart } from "../src/context/queries.ts"

const part = (text: string) => ({ id: "prt_1", sessionID: "ses_1", messageID: "msg_a", type: "text" as const, text })

describe("live message updates", () => {
  it("replaces a streamed part in place and keeps message order", () => {
    let list = applyMessageInfo(undefined, { id: "msg_u", sessionID: "ses_1", role: "user", time: { created: 1 } })
    list = applyPart(list, part("Hel"))
    list = applyPart(list, part("Hello"))
    expect(list.map((message) => message.info.id)).toEqual(["msg_u", "msg_a"])
    expect(list[1]!.parts).toEqual([part("Hello")])
  })

  it("appends a delta when the part's text is stale", () => {
    const list = applyPart(applyPart(undefined, part("Hel")), part("Hel"), "lo")
    expect(list[0]!.parts[0]).toMatchObject({ text: "Hello" })
  })

  it("keeps parts already received when the message's info arrives later", () => {
    const list = applyMessageInfo(applyPart(undefined, part("Hi")), {
      id: "msg_a",
      sessionID: "ses_1",
      role: "assistant",
      time: { created: 2 },
      modelID: "slow",
    })
    expect(list).toHaveLength(1)
    expect(list[0]!.info.modelID).toBe("slow")
    expect(list[0]!.parts).toHaveLength(1)
  })
})
