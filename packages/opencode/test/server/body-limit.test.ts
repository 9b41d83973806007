import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { handleError, handleNotFound, parseJsonBody } from "../../src/server/errors.ts"
import {
  BodyBudget,
  DEFAULT_BODY_BUDGET,
  DEFAULT_BODY_LIMIT,
  requestBodyLimit,
  requestContext,
} from "../../src/server/middleware/index.ts"

function setup(maxSize?: number, budget?: BodyBudget) {
  let seq = 0
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++ }))
  app.use(requestBodyLimit({ ...(maxSize === undefined ? {} : { maxSize }), ...(budget ? { budget } : {}) }))
  app.post("/prompt", async (c) => c.json(await parseJsonBody(c, z.object({ text: z.string() }))))
  return app
}

function streamOf(bytes: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(`{"text":"${"a".repeat(bytes)}"}`))
      controller.close()
    },
  })
}

describe("requestBodyLimit", () => {
  it("defaults to 1 MiB", () => {
    expect(DEFAULT_BODY_LIMIT).toBe(1024 * 1024)
  })

  it("passes a body within the limit", async () => {
    const res = await setup(100).request("/prompt", { method: "POST", body: JSON.stringify({ text: "hi" }) })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ text: "hi" })
  })

  it("answers 413 body_too_large by Content-Length", async () => {
    const res = await setup(100).request("/prompt", { method: "POST", body: JSON.stringify({ text: "a".repeat(200) }) })
    expect(res.status).toBe(413)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("body_too_large")
    expect(body.error.message).toContain("100")
    expect(res.headers.get("x-opencode-request-id")).toMatch(/^req_/)
  })

  it("answers 413 for a streamed body without Content-Length", async () => {
    const app = setup(100)
    const ok = await app.request("/prompt", { method: "POST", body: streamOf(10), duplex: "half" } as RequestInit)
    expect(ok.status).toBe(200)
    const res = await app.request("/prompt", { method: "POST", body: streamOf(500), duplex: "half" } as RequestInit)
    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("body_too_large")
  })

  it("applies the default limit", async () => {
    const res = await setup().request("/prompt", {
      method: "POST",
      body: JSON.stringify({ text: "a".repeat(DEFAULT_BODY_LIMIT) }),
    })
    expect(res.status).toBe(413)
  })
})

describe("the body budget across requests", () => {
  /** A body of `bytes` that is held open until `finish()` is called. */
  function heldBody(bytes: number) {
    let finish!: () => void
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"text":"${"a".repeat(bytes - 11)}`))
        finish = () => {
          controller.enqueue(new TextEncoder().encode('"}'))
          controller.close()
        }
      },
    })
    return { body, finish: () => finish() }
  }

  it("defaults to 64 MiB", () => {
    expect(DEFAULT_BODY_BUDGET).toBe(64 * 1024 * 1024)
  })

  it("answers 503 server_busy with Retry-After while held bodies fill it, and gives the bytes back when they are answered", async () => {
    const budget = new BodyBudget(300)
    const app = setup(200, budget)
    const first = heldBody(200)
    const firstResponse = app.request("/prompt", {
      method: "POST",
      body: first.body,
      duplex: "half",
      headers: { "content-length": "200" },
    } as RequestInit)
    await new Promise((resolve) => setImmediate(resolve))
    expect(budget.held).toBe(200)
    const sized = (text: string) => {
      const body = JSON.stringify({ text })
      return { method: "POST", body, headers: { "content-length": String(Buffer.byteLength(body)) } }
    }
    const busy = await app.request("/prompt", sized("a".repeat(150)))
    expect(busy.status).toBe(503)
    expect(busy.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe("server_busy")
    // A small body still fits beside the held one; a chunked one counts as the per-request limit.
    expect((await app.request("/prompt", sized("hi"))).status).toBe(200)
    const chunked = () =>
      ({
        method: "POST",
        body: streamOf(10),
        duplex: "half",
        headers: { "transfer-encoding": "chunked" },
      }) as RequestInit
    expect((await app.request("/prompt", chunked())).status).toBe(503)
    first.finish()
    expect((await firstResponse).status).toBe(200)
    expect(budget.held).toBe(0)
    expect((await app.request("/prompt", chunked())).status).toBe(200)
    // A request without a body reserves nothing, whatever else is held.
    expect(budget.reserve(300)).toBe(true)
    // (It reaches the route, which wants a text: 400, not 503.)
    expect((await app.request("/prompt", { method: "POST" })).status).toBe(400)
    budget.release(300)
    // An oversized body is a 413 and reserves nothing; so is a refused or failed one.
    expect((await app.request("/prompt", sized("a".repeat(500)))).status).toBe(413)
    expect((await app.request("/prompt", { method: "POST", body: "not json" })).status).toBe(400)
    expect(budget.held).toBe(0)
  })
})
