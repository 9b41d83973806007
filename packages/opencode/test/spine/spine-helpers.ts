/** Helpers shared by the spine's interrupt tests (on top of ../harness.ts). */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import type { Host } from "../../src/host.ts"
import { directoryKey } from "../../src/project/directory-key.ts"
import type { Provider, ProviderEvent, ProviderRequest } from "../../src/provider/provider.ts"
import type { LifecycleAction } from "../../src/provenance/schemas.ts"
import type { Tool } from "../../src/tool/tool.ts"
import { type TestServer, waitFor } from "../harness.ts"

export { directoryKey }

/** Every lifecycle action the journal holds, latest record of each (finished supersedes started). */
export function lifecycleActions(host: Host): LifecycleAction[] {
  const out = new Map<string, LifecycleAction>()
  for (const row of host.journal.rows({ kinds: ["lifecycle.started", "lifecycle.finished"] }))
    out.set(row.lifecycleId!, row.data as LifecycleAction)
  return [...out.values()].sort((a, b) => a.seq - b.seq)
}

/** Like harness `startRun`, keeping the ids of the requests that created the session and started the run. */
export async function startRunWithIds(
  server: TestServer,
  directory: string,
  model = "scripted/slow",
  opts: { waitForOutput?: boolean } = {},
): Promise<{ sessionId: string; runId: string; requestIds: string[] }> {
  const session = await server.call("POST", "/session", { directory, body: {} })
  if (session.status !== 200) throw new Error(`create session: ${session.status} ${JSON.stringify(session.body)}`)
  const sessionId = session.body.id as string
  const prompt = await server.call("POST", `/session/${sessionId}/prompt`, { directory, body: { text: "go", model } })
  if (prompt.status !== 200) throw new Error(`prompt: ${prompt.status} ${JSON.stringify(prompt.body)}`)
  const runId = prompt.body.runId as string
  if (opts.waitForOutput !== false) await waitForOutput(server, sessionId)
  return {
    sessionId,
    runId,
    requestIds: [session.headers.get("x-opencode-request-id")!, prompt.headers.get("x-opencode-request-id")!],
  }
}

export async function waitForOutput(server: TestServer, sessionId: string): Promise<void> {
  await waitFor(async () => {
    const messages = await server.call("GET", `/session/${sessionId}/message`)
    return (messages.body as any[]).some(
      (m) => m.info.role === "assistant" && m.parts.some((p: any) => p.type === "text" && p.text.length > 0),
    )
  })
}

export function link(chain: any, hop: string): any {
  return chain.links.find((l: any) => l.hop === hop)
}

/**
 * Serves `provider/model` refs of `provider` from the host's registry (the test's own provider,
 * beside the built-in ones), and adds `tools` to the processor's tool list.
 */
export function installProvider(
  host: Host,
  id: string,
  stream: (request: ProviderRequest) => AsyncGenerator<ProviderEvent>,
  tools: Tool[] = [],
): void {
  const provider: Provider = { id, stream } as Provider
  const original = host.providers.resolve.bind(host.providers)
  ;(host.providers as { resolve: typeof original }).resolve = (ref?: string) => {
    if (ref?.startsWith(`${id}/`)) return { provider, model: ref.slice(id.length + 1), ref }
    return original(ref)
  }
  const list = (host.processor as unknown as { options: { tools: Tool[] } }).options.tools
  list.push(...tools)
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true }),
  )
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A fresh directory holding a `git` that runs the real one and then lingers `seconds` after
 * `init`, so git init's route holds the directory lock meanwhile. Put it first on PATH; the
 * caller removes it.
 */
export function lingeringGitBin(seconds: number): string {
  const bin = mkdtempSync(path.join(os.tmpdir(), "oc-gitwrap-"))
  const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim()
  writeFileSync(
    path.join(bin, "git"),
    `#!/bin/sh\n"${realGit}" "$@"\nrc=$?\nif [ "$1" = init ]; then sleep ${seconds}; fi\nexit $rc\n`,
  )
  chmodSync(path.join(bin, "git"), 0o755)
  return bin
}

/**
 * Waits until the global config's watcher has judged the file as it is now (our write's echo, or
 * an outside edit): the moment a wrong second dispose_all would already have begun. Tests wait on
 * this instead of a fixed sleep. Call `watchGlobalConfigChecks` before the write.
 */
export function watchGlobalConfigChecks(host: Host): { judged(): Promise<void> } {
  const seen: string[] = []
  const isOwnWrite = host.globalConfig.isOwnWrite.bind(host.globalConfig)
  host.globalConfig.isOwnWrite = (digest: string, readAt: number) => {
    seen.push(digest)
    return isOwnWrite(digest, readAt)
  }
  return {
    judged: () =>
      waitFor(() => seen.includes(createHash("sha256").update(readFileSync(host.globalConfig.file)).digest("hex"))),
  }
}
