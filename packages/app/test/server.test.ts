import { describe, expect, it } from "vitest"
import { createServerConnection, defaultDirectory, requestHeaders, resolveToken } from "../src/context/server.ts"

function page(html: string, hash = "") {
  document.head.innerHTML = html
  window.history.replaceState(null, "", `/sessions${hash}`)
  return document
}

describe("server connection", () => {
  it("never takes a token from the page (the server sends none; a meta tag would be an injected one)", () => {
    window.sessionStorage.clear()
    const doc = page('<meta name="opencode-token" content="meta-token">')
    expect(resolveToken(doc, window.sessionStorage)).toBeUndefined()
  })

  it("takes a #token= fragment, keeps it in sessionStorage and removes it from the address bar", () => {
    window.sessionStorage.clear()
    const doc = page("", "#token=s3cr%2Bt")
    expect(resolveToken(doc, window.sessionStorage)).toBe("s3cr+t")
    expect(window.location.hash).toBe("")
    expect(window.sessionStorage.getItem("opencode.token")).toBe("s3cr+t")
    // After the fragment is gone, the stored token is used.
    expect(resolveToken(page(""), window.sessionStorage)).toBe("s3cr+t")
  })

  it("reads the default directory", () => {
    expect(defaultDirectory(page('<meta name="opencode-default-directory" content="/srv/project">'))).toBe("/srv/project")
  })

  it("percent-encodes the directory and sends the bearer token only when there is one", () => {
    expect(requestHeaders({ directory: "/a b/%c" })).toEqual({ accept: "application/json", "x-opencode-client": "app/0.1.0", "x-opencode-directory": "%2Fa%20b%2F%25c" })
    expect(requestHeaders({ token: "t" }).authorization).toBe("Bearer t")
  })

  it("puts the directory and token in the event stream's query, since EventSource sends no headers", () => {
    const connection = createServerConnection({ baseUrl: "http://127.0.0.1:4096/", directory: () => "/a b", token: () => "tok" })
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
      const body = status === 200 ? "{}" : JSON.stringify({ error: { code: "config_changed", message: "opencode.json changed since it was read" } })
      return new Response(body, { status, headers: { etag: '"abc"' } })
    }) as typeof fetch
    const connection = createServerConnection({ baseUrl: "http://127.0.0.1:1", directory: () => "/p", token: () => undefined, fetchImpl })
    const ok = await connection.request("PATCH", "/config", { body: {}, headers: { "if-match": '"old"' } })
    expect(seen[0]!["if-match"]).toBe('"old"')
    expect(ok.etag).toBe('"abc"')
    status = 412
    await expect(connection.request("PATCH", "/config", { body: {} })).rejects.toMatchObject({ status: 412, code: "config_changed", etag: '"abc"' })
  })
})
