/**
 * A refusal never echoes its input: every route that answers bad input with a 4xx is sent a
 * canary (in a query, a path, a header, a body value and a body key), and the canary must not
 * appear anywhere in the response body. The message still names the field.
 */
import { writeFileSync } from "node:fs"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { startApp, type TestServer } from "../harness.ts"

const CANARY = "Qz7canaryXw"

let server: TestServer
let project: string
let sessionId: string
beforeAll(async () => {
  server = await startApp()
  project = server.project()
  const created = await server.call("POST", "/session", { directory: project, body: { title: "t" } })
  sessionId = created.body.id
})
afterAll(async () => {
  await server.close()
})

interface Probe {
  name: string
  method: string
  route: () => string
  body?: () => unknown
  headers?: () => Record<string, string>
  /** Send no directory header (the probe sets its own). */
  noDirectory?: boolean
  status: number
  /** A word the message must still contain: the field it names. */
  names: string
}

const probes: Probe[] = [
  {
    name: "unknown before cursor",
    method: "GET",
    route: () => `/session?before=ses_${CANARY}`,
    status: 400,
    names: "before",
  },
  { name: "malformed before", method: "GET", route: () => `/session?before=${CANARY}`, status: 400, names: "before" },
  { name: "malformed limit", method: "GET", route: () => `/session?limit=${CANARY}`, status: 400, names: "limit" },
  { name: "unknown session", method: "GET", route: () => `/session/ses_${CANARY}`, status: 404, names: "session" },
  {
    name: "unknown session's export",
    method: "GET",
    route: () => `/session/${sessionId}/export?content=${CANARY}`,
    status: 400,
    names: "content",
  },
  {
    name: "model without a slash",
    method: "POST",
    route: () => `/session/${sessionId}/prompt`,
    body: () => ({ text: "hi", model: CANARY }),
    status: 400,
    names: "model",
  },
  {
    name: "unknown provider",
    method: "POST",
    route: () => `/session/${sessionId}/prompt`,
    body: () => ({ text: "hi", model: `${CANARY}/x` }),
    status: 400,
    names: "model",
  },
  {
    name: "unknown scripted model",
    method: "POST",
    route: () => `/session/${sessionId}/prompt`,
    body: () => ({ text: "hi", model: `scripted/${CANARY}` }),
    status: 400,
    names: "model",
  },
  {
    name: "unknown model as an object",
    method: "POST",
    route: () => `/session/${sessionId}/prompt`,
    body: () => ({ parts: [{ type: "text", text: "hi" }], model: { providerID: "scripted", modelID: CANARY } }),
    status: 400,
    names: "model",
  },
  {
    name: "invalid JSON",
    method: "POST",
    route: () => "/session",
    body: () => `{"${CANARY}"`,
    status: 400,
    names: "JSON",
  },
  {
    name: "wrong type",
    method: "POST",
    route: () => "/session",
    body: () => ({ title: 5, [CANARY]: 1 }),
    status: 400,
    names: "title",
  },
  {
    name: "global config's unknown model",
    method: "PATCH",
    route: () => "/global/config",
    body: () => ({ model: `scripted/${CANARY}` }),
    status: 400,
    names: "model",
  },
  {
    name: "global config's bad workspace id",
    method: "PATCH",
    route: () => "/global/config",
    body: () => ({ workspaces: { [`${CANARY}!`]: { url: "http://127.0.0.1:1" } } }),
    status: 400,
    names: "workspaces",
  },
  {
    name: "global config's bad workspace url",
    method: "PATCH",
    route: () => "/global/config",
    body: () => ({ workspaces: { [CANARY]: { url: 5 } } }),
    status: 400,
    names: "url",
  },
  {
    name: "project config's overlong key",
    method: "PATCH",
    route: () => "/config",
    body: () => ({ [CANARY.repeat(20)]: 1 }),
    status: 400,
    names: "key",
  },
  {
    name: "malformed If-Match",
    method: "PATCH",
    route: () => "/config",
    body: () => ({ a: 1 }),
    headers: () => ({ "if-match": `"${CANARY}"` }),
    status: 400,
    names: "if-match",
  },
  {
    name: "unknown workspace",
    method: "GET",
    route: () => "/session",
    headers: () => ({ "x-opencode-workspace": CANARY }),
    status: 400,
    names: "workspace",
  },
  {
    name: "malformed workspace",
    method: "GET",
    route: () => "/session",
    headers: () => ({ "x-opencode-workspace": `${CANARY}!` }),
    status: 400,
    names: "workspace",
  },
  {
    name: "relative directory",
    method: "GET",
    route: () => "/session",
    headers: () => ({ "x-opencode-directory": CANARY }),
    noDirectory: true,
    status: 400,
    names: "directory",
  },
  {
    name: "missing directory",
    method: "GET",
    route: () => "/session",
    headers: () => ({ "x-opencode-directory": encodeURIComponent(path.join(project, CANARY)) }),
    noDirectory: true,
    status: 400,
    names: "directory",
  },
  {
    name: "directory that is a file",
    method: "GET",
    route: () => `/session?directory=${encodeURIComponent(path.join(project, `${CANARY}.txt`))}`,
    noDirectory: true,
    status: 400,
    names: "directory",
  },
  {
    name: "malformed directory encoding",
    method: "GET",
    route: () => "/session",
    headers: () => ({ "x-opencode-directory": `%zz${CANARY}` }),
    noDirectory: true,
    status: 400,
    names: "directory",
  },
  {
    name: "too many renderer actions",
    method: "POST",
    route: () => "/diagnostics/renderer",
    body: () => ({ actions: CANARY }),
    status: 400,
    names: "actions",
  },
]

describe("no 4xx echoes its input", () => {
  beforeAll(() => {
    writeFileSync(path.join(project, `${CANARY}.txt`), "a file, not a directory")
  })

  test.each(probes)("$name", async (probe) => {
    const res = await server.call(probe.method, probe.route(), {
      ...(probe.noDirectory ? {} : { directory: project }),
      ...(probe.body ? { body: probe.body() } : {}),
      headers: probe.headers?.() ?? {},
    })
    expect(res.status).toBe(probe.status)
    const text = JSON.stringify(res.body)
    expect(res.body.error.message.toLowerCase()).toContain(probe.names.toLowerCase())
    expect(text.toLowerCase()).not.toContain(CANARY.toLowerCase())
  })
})
