import { getEventListeners } from "node:events"
import { describe, expect, it } from "vitest"
import { ProviderError, type ProviderEvent, type ProviderRequest } from "../../src/provider/provider.ts"
import { SCRIPTED_TOOL_WRITE_INPUT, createScriptedProvider, sleep } from "../../src/provider/scripted.ts"

function request(
  model: string,
  signal: AbortSignal,
  messages: ProviderRequest["messages"] = [{ role: "user", content: "hi" }],
): ProviderRequest {
  return { model, messages, tools: [], signal }
}

async function collect(stream: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const events: ProviderEvent[] = []
  for await (const event of stream) events.push(event)
  return events
}

/** Resolves to "pending" if `promise` has not settled after `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<"settled" | "pending"> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<"pending">((resolve) => (timer = setTimeout(() => resolve("pending"), ms)))
  const settled = promise.then(
    () => "settled" as const,
    () => "settled" as const,
  )
  try {
    return await Promise.race([settled, timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe("sleep", () => {
  it("resolves after the delay and leaves no abort listener behind", async () => {
    const controller = new AbortController()
    await sleep(5, controller.signal)
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("rejects with the signal's reason as soon as it aborts, and removes its listener", async () => {
    const controller = new AbortController()
    const reason = new Error("cancelled by test")
    const started = Date.now()
    const sleeping = sleep(10_000, controller.signal)
    setTimeout(() => controller.abort(reason), 10)
    await expect(sleeping).rejects.toBe(reason)
    expect(Date.now() - started).toBeLessThan(500)
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("rejects at once for an already-aborted signal", async () => {
    await expect(sleep(10_000, AbortSignal.abort("gone"))).rejects.toBe("gone")
  })
})

describe("scripted provider", () => {
  it("has id scripted and lists its models", () => {
    const provider = createScriptedProvider()
    expect(provider.id).toBe("scripted")
    expect([...provider.models].sort()).toEqual(["quick", "silent", "slow", "stall", "tool-write"])
  })

  it("quick streams a few text chunks and finishes with stop", async () => {
    const controller = new AbortController()
    const events = await collect(createScriptedProvider({ tickMs: 5 }).stream(request("quick", controller.signal)))
    const texts = events.filter((e) => e.type === "text")
    expect(texts.length).toBeGreaterThanOrEqual(2)
    expect(texts.map((e) => (e.type === "text" ? e.text : "")).join("")).toContain("scripted/quick")
    expect(events.at(-1)).toEqual({ type: "finish", reason: "stop" })
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("quick at default timing completes in well under a second", async () => {
    const started = Date.now()
    const events = await collect(createScriptedProvider().stream(request("quick", new AbortController().signal)))
    expect(events.at(-1)).toEqual({ type: "finish", reason: "stop" })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it("slow streams 60 chunks then stops (sped up by tickMs)", async () => {
    const events = await collect(
      createScriptedProvider({ tickMs: 1 }).stream(request("slow", new AbortController().signal)),
    )
    expect(events.filter((e) => e.type === "text")).toHaveLength(60)
    expect(events.at(-1)).toEqual({ type: "finish", reason: "stop" })
  })

  it("slow at default timing is still streaming after a chunk and stops promptly on abort", async () => {
    const controller = new AbortController()
    const iterator = createScriptedProvider().stream(request("slow", controller.signal))[Symbol.asyncIterator]()
    const first = await iterator.next()
    expect(first.value).toMatchObject({ type: "text" })
    const reason = new Error("instance reload")
    const pending = iterator.next()
    const abortedAt = Date.now()
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    expect(Date.now() - abortedAt).toBeLessThan(100)
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("an already-aborted request never yields", async () => {
    const reason = new Error("closed before start")
    await expect(
      collect(createScriptedProvider({ tickMs: 1 }).stream(request("quick", AbortSignal.abort(reason)))),
    ).rejects.toBe(reason)
  })

  it("tool-write asks for the write tool on its first turn", async () => {
    const events = await collect(
      createScriptedProvider({ tickMs: 1 }).stream(request("tool-write", new AbortController().signal)),
    )
    expect(events.map((e) => e.type)).toEqual(["text", "tool_call", "finish"])
    const call = events[1]
    expect(call.type === "tool_call" && call.call.name).toBe("write")
    expect(call.type === "tool_call" && call.call.input).toEqual({
      path: "scripted-output.txt",
      content: "written by scripted/tool-write\n",
    })
    expect(call.type === "tool_call" && call.call.id).toMatch(/^call_\w+$/)
    expect(events[2]).toEqual({ type: "finish", reason: "tool_calls" })
    expect(SCRIPTED_TOOL_WRITE_INPUT.path).toBe("scripted-output.txt")
  })

  it("tool-write keeps streaming visible text once the tool result is in", async () => {
    const provider = createScriptedProvider({ tickMs: 1 })
    const first = await collect(provider.stream(request("tool-write", new AbortController().signal)))
    const call = first.find((e) => e.type === "tool_call")!
    if (call.type !== "tool_call") throw new Error("expected a tool call")
    const messages: ProviderRequest["messages"] = [
      { role: "user", content: "write it" },
      { role: "assistant", content: "I will write a file.\n", toolCalls: [call.call] },
      { role: "tool", toolCallId: call.call.id, content: "wrote 31 bytes" },
    ]
    const second = await collect(provider.stream(request("tool-write", new AbortController().signal, messages)))
    expect(second.filter((e) => e.type === "tool_call")).toHaveLength(0)
    expect(second.filter((e) => e.type === "text")).toHaveLength(60)
    expect(second.at(-1)).toEqual({ type: "finish", reason: "stop" })
  })

  it("tool-write's second turn is interruptible", async () => {
    const controller = new AbortController()
    const messages: ProviderRequest["messages"] = [{ role: "tool", toolCallId: "call_1", content: "ok" }]
    const iterator = createScriptedProvider({ tickMs: 200 })
      .stream(request("tool-write", controller.signal, messages))
      [Symbol.asyncIterator]()
    expect((await iterator.next()).value).toMatchObject({ type: "text" })
    const pending = iterator.next()
    controller.abort(new Error("dispose"))
    await expect(pending).rejects.toThrow("dispose")
  })

  it("silent emits nothing and does not finish until aborted", async () => {
    const controller = new AbortController()
    const iterator = createScriptedProvider({ tickMs: 1 })
      .stream(request("silent", controller.signal))
      [Symbol.asyncIterator]()
    const next = iterator.next()
    expect(await settlesWithin(next, 150)).toBe("pending")
    const reason = new Error("watchdog")
    controller.abort(reason)
    await expect(next).rejects.toBe(reason)
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("stall emits a little text, then nothing until aborted", async () => {
    const controller = new AbortController()
    const iterator = createScriptedProvider({ tickMs: 1 })
      .stream(request("stall", controller.signal))
      [Symbol.asyncIterator]()
    const seen: ProviderEvent[] = []
    let next = iterator.next()
    // Pull events until one does not arrive within 150 ms (the stall).
    for (;;) {
      if ((await settlesWithin(next, 150)) === "pending") break
      const result = await next
      expect(result.done).toBe(false)
      seen.push(result.value as ProviderEvent)
      next = iterator.next()
    }
    expect(seen.length).toBeGreaterThanOrEqual(1)
    expect(seen.length).toBeLessThanOrEqual(2)
    expect(seen.every((e) => e.type === "text")).toBe(true)
    controller.abort(new Error("watchdog fired"))
    await expect(next).rejects.toThrow("watchdog fired")
  })

  it("an abort without a reason rejects with an AbortError", async () => {
    const controller = new AbortController()
    const iterator = createScriptedProvider({ tickMs: 1 })
      .stream(request("silent", controller.signal))
      [Symbol.asyncIterator]()
    const next = iterator.next()
    controller.abort()
    await expect(next).rejects.toMatchObject({ name: "AbortError" })
  })

  it("an unknown model fails from the stream with model_not_found 404", async () => {
    const error = await collect(createScriptedProvider().stream(request("nope", new AbortController().signal))).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ code: "model_not_found", status: 404 })
  })

  it("rejects a nonsensical tickMs", () => {
    expect(() => createScriptedProvider({ tickMs: -1 })).toThrow(RangeError)
  })
})
