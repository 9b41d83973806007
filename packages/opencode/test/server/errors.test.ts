import { Hono } from "hono"
import { HTTPException } from "hono/http-exception"
import { afterEach, describe, expect, it, vi } from "vitest"
import { z } from "zod"
import { InvalidDirectoryError } from "../../src/project/directory-key.ts"
import { ApiError, errorBody, handleError, handleNotFound, parseInput, parseJsonBody } from "../../src/server/errors.ts"
import { requestContext } from "../../src/server/middleware/request-context.ts"

afterEach(() => {
  vi.restoreAllMocks()
})

const Prompt = z.object({ text: z.string(), model: z.string().optional() })
const Optional = z.object({ title: z.string().optional() })

function app() {
  let seq = 0
  const app = new Hono()
  app.onError(handleError)
  app.notFound(handleNotFound)
  app.use(requestContext({ nextSeq: () => seq++ }))
  app.post("/prompt", async (c) => c.json(await parseJsonBody(c, Prompt)))
  app.post("/optional", async (c) => c.json(await parseJsonBody(c, Optional)))
  app.get("/api-error", () => {
    throw new ApiError(409, "run_active", "a run is already active")
  })
  app.get("/directory", () => {
    throw new InvalidDirectoryError("relative", "directory is not an absolute path")
  })
  app.get("/http-exception", () => {
    throw new HTTPException(413, { res: new Response("Payload Too Large", { status: 413 }) })
  })
  app.get("/boom", () => {
    throw new Error("ENOENT: /home/secret/path sk-live-123")
  })
  return app
}

async function post(path: string, body: string | undefined) {
  return app().request(path, { method: "POST", body, headers: { "content-type": "application/json" } })
}

describe("errorBody", () => {
  it("has the one error shape", () => {
    expect(errorBody("not_found", "no such session")).toEqual({
      error: { code: "not_found", message: "no such session" },
    })
  })
})

describe("parseJsonBody", () => {
  it("returns the parsed body", async () => {
    const res = await post("/prompt", JSON.stringify({ text: "hi", extra: 1 }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ text: "hi" })
  })

  it("answers 400 naming the failing field", async () => {
    const res = await post("/prompt", JSON.stringify({ text: 42 }))
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("invalid_body")
    expect(body.error.message).toMatch(/^text: expected string/)
    expect(body.error.message).not.toContain("42")
  })

  it("names nested paths and every failing field", async () => {
    const schema = z.object({ parts: z.array(z.object({ text: z.string() })), model: z.string() })
    expect(() => parseInput(schema, { parts: [{ text: 1 }] })).toThrow(
      /parts\.0\.text: expected string.*; model: expected string/,
    )
  })

  it("answers 400 invalid_json for a body that is not JSON", async () => {
    const res = await post("/prompt", "{not json")
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json")
  })

  it("reads an empty body as {} when the schema allows it", async () => {
    const res = await post("/optional", undefined)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({})
    const required = await post("/prompt", "")
    expect(required.status).toBe(400)
    expect(((await required.json()) as { error: { message: string } }).error.message).toMatch(/^text: /)
  })

  it("names the body itself when it is not an object", async () => {
    const res = await post("/prompt", "[1,2]")
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^body: expected object/)
  })
})

describe("handleError", () => {
  it("answers an ApiError with its status and code", async () => {
    const res = await app().request("/api-error")
    expect(res.status).toBe(409)
    expect(await res.json()).toEqual(errorBody("run_active", "a run is already active"))
  })

  it("answers an invalid directory with 400 invalid_directory", async () => {
    const res = await app().request("/directory")
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_directory")
  })

  it("answers a Hono HTTPException with its status in the JSON shape", async () => {
    const res = await app().request("/http-exception")
    expect(res.status).toBe(413)
    expect(res.headers.get("content-type")).toMatch(/application\/json/)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("body_too_large")
  })

  it("answers anything else with a 500 naming the request id, never the message or stack", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {})
    const res = await app().request("/boom")
    expect(res.status).toBe(500)
    const requestId = res.headers.get("x-opencode-request-id")
    expect(requestId).toMatch(/^req_/)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual(errorBody("internal_error", `internal error (request ${requestId})`))
    expect(text).not.toContain("secret")
    expect(text).not.toContain("sk-live")
    expect(text).not.toContain("at ")
    expect(logged).toHaveBeenCalled()
  })
})

describe("handleNotFound", () => {
  it("answers 404 not_found", async () => {
    const res = await app().request("/nowhere")
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found")
    expect(res.headers.get("x-opencode-request-id")).toMatch(/^req_/)
  })
})
