/** A recording fake of the browser's fetch, for the client module's tests. */
export interface RecordedRequest {
  url: string
  method: string
  headers: Record<string, string>
  body?: unknown
}

export function fakeFetch(
  answer: (request: RecordedRequest) => { status?: number; body?: unknown; requestId?: string } = () => ({}),
) {
  const requests: RecordedRequest[] = []
  let n = 0
  const impl = async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = Object.fromEntries(
      Object.entries((init?.headers ?? {}) as Record<string, string>).map(([key, value]) => [key.toLowerCase(), value]),
    )
    const request: RecordedRequest = {
      url: String(input),
      method: init?.method ?? "GET",
      headers,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    }
    requests.push(request)
    const reply = answer(request)
    const requestId = reply.requestId ?? `req_fake${++n}`
    return new Response(reply.body === undefined ? "" : JSON.stringify(reply.body), {
      status: reply.status ?? 200,
      headers: { "content-type": "application/json", "x-opencode-request-id": requestId },
    })
  }
  return { impl: impl as typeof globalThis.fetch, requests }
}
