import { Hono } from "hono"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { handleError, handleNotFound, parseJsonBody } from "../../src/server/errors.ts"
import { DEFAULT_BODY_LIMIT, requestBodyLimit, requestContext } from "../../src/server/middleware/index.ts"

function setup(maxSize?: number) {
  let seq = 0
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++ }))
  app.use(requestBodyLimit(maxSize === undefined ? {} : { maxSize }))
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
    const res = await setup().request("/prompt", { method: "POST", body: JSON.stringify({ text: "a".repeat(DEFAULT_BODY_LIMIT) }) })
    expect(res.status).toBe(413)
  })
})
