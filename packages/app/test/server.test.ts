import { describe, expect, it, vi } from "vitest"
import { createServerConnection, defaultDirectory, requestHeaders, takeSignInFragment } from "../src/context/server.ts"

function page(html: string, hash = "") {
  document.head.innerHTML = html
  window.history.replaceState(null, "", `/sessions${hash}`)
  return document
}

describe("server connection", () => {
  it("never takes a token from the page or the address bar: a #token= fragment is removed unused, and a token kept by an earlier version is forgotten", () => {
    window.sessionStorage.setItem("opencode.token", "old-token")
    const doc = page('<meta name="opencode-token" content="meta-token">', "#token=s3cr%2Bt&view=1")
    expect(takeSignInFragment(doc, window.sessionStorage)).toBeUndefined()
    expect(window.location.hash).toBe("#view=1")
    expect(window.sessionStorage.getItem("opencode.token")).toBeNull()
    const connection = createServerConnection({
      baseUrl: "http://127.0.0.1:4096",
      directory: () => undefined,
      fetchImpl: (async () => new Response("{}")) as typeof fetch,
    })
    expect(connection.token()).toBeUndefined()
  })

  it("a one-time sign-in code that reaches the app leaves the address bar and is spent at POST /login", async () => {
    const doc = page("", "#code=AbC_12-x")
    expect(takeSignInFragment(doc, window.sessionStorage)).toBe("AbC_12-x")
    expect(window.location.hash).toBe("")
    page("", "#code=Zz9")
    const sent: { url: string; init?: RequestInit }[] = []
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      sent.push({ url: String(input), ...(init ? { init } : {}) })
      return new Response(null, { status: 204 })
    }) as typeof fetch
    createServerConnection({ baseUrl: "http://127.0.0.1:4096", directory: () => undefined, fetchImpl })
    await vi.waitFor(() => expect(sent).toHaveLength(1))
    expect(new URL(sent[0]!.url).pathname).toBe("/login")
    expect(sent[0]!.init?.method).toBe("POST")
    expect(JSON.parse(String(sent[0]!.init?.body))).toEqual({ code: "Zz9" })
    expect(window.location.hash).toBe("")
  })

  it("reads the default directory", () => {
    expect(defaultDirectory(page('<meta name="opencode-default-directory" content="/srv/project">'))).toBe(
      "/srv/project",
    )
  })

  it("percent-encodes the directory and sends the bearer token only when there is one", () => {
    expect(requestHeaders({ directory: "/a b/%c" })).toEqual({
      accept: "application/json",
      "x-opencode-client": "app/0.1.0",
      "x-opencode-directory": "%2Fa%20b%2F%25c",
    })
    expect(requestHeaders({ token: "t" }).authorization).toBe("Bearer t")
  })

  it("sends traceparent only with an action stamp, naming the action's trace and its root span as parent", () => {
    const action = {
      actionId: "act_1",
      name: "instance.reload",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
    }
    expect(requestHeaders({ action }).traceparent).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    expect(requestHeaders({ directory: "/a" })).not.toHaveProperty("traceparent")
  })

  it("puts the directory and token in the event stream's query, since EventSource sends no headers", () => {
    const connection = createServerConnection({
      baseUrl: "http://127.0.0.1:4096/",
      directory: () => "/a b",
      token: () => "tok",
    })
    const url = new URL(connection.eventUrl())
    expect(url.pathname).toBe("/event")
    expect(url.searchParams.get("directory")).toBe("/a b")
    expect(url.searchParams.get("token")).toBe("tok")
  })

  it("sends extra headers (a config save's If-Match) and hands back the ETag, on success and on a 412", async () => {
    const seen: Record<string, string>[] = []
    let status = 200
    const fetchImpl = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      seen.push({ ...(init?.headers as Record<string, string>) })
      const body =
        status === 200
          ? "{}"
          : JSON.stringify({ error: { code: "config_changed", message: "opencode.json changed since it was read" } })
      return new Response(body, { status, headers: { etag: '"abc"' } })
    }) as typeof fetch
    const connection = createServerConnection({
      baseUrl: "http://127.0.0.1:1",
      directory: () => "/p",
      token: () => undefined,
      fetchImpl,
    })
    const ok = await connection.request("PATCH", "/config", { body: {}, headers: { "if-match": '"old"' } })
    expect(seen[0]!["if-match"]).toBe('"old"')
    expect(ok.etag).toBe('"abc"')
    status = 412
    await expect(connection.request("PATCH", "/config", { body: {} })).rejects.toMatchObject({
      status: 412,
      code: "config_changed",
      etag: '"abc"',
    })
  })

  it("an answer cut short after its status (the server stopped writing a long list) is a ServerError saying so, never a raw TypeError", async () => {
    const fetchImpl = (async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('[{"info":'))
          controller.error(new TypeError("terminated"))
        },
      })
      return new Response(body, { status: 200, headers: { "x-opencode-request-id": "req_cut" } })
    }) as typeof fetch
    const connection = createServerConnection({ baseUrl: "http://127.0.0.1:1", directory: () => "/p", fetchImpl })
    await expect(connection.request("GET", "/session/ses_1/message")).rejects.toMatchObject({
      name: "ServerError",
      status: 200,
      code: "answer_cut_short",
      message: "GET /session/ses_1/message: the server stopped before the answer was complete",
    })
  })
})
