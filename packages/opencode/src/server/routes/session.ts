/** Session routes: sessions, messages, prompts, the user's abort, runs, incidents and the export. */
import { setImmediate as nextTurn } from "node:timers/promises"
import { Hono, type Context } from "hono"
import { z } from "zod"
import { ProviderError } from "../../provider/provider.ts"
import { InstanceError } from "../../session/instance-error.ts"
import { isReopening } from "../../project/instance.ts"
import { RunConflictError } from "../../session/processor.ts"
import { publicSession } from "../../session/session-store.ts"
import { messagesInTurns, sessionExportText, sessionIncidentsText } from "../../session/export.ts"
import { jsonText, Streamed, TURN, writeJsonText } from "../../session/json-text.ts"
import type { Host } from "../../host.ts"
import type { RunPosition, SessionInfo, SessionStore } from "../../session/session-store.ts"
import { MAX_MODEL_REF, RunId } from "../../provenance/schemas.ts"
import type { Run } from "../../provenance/wire.ts"
import { requestDirectory } from "../directory.ts"
import { ApiError, parseInput, parseJsonBody, StorageUnavailableError } from "../errors.ts"
import { requestRefOf } from "../origin.ts"

const CreateBody = z.object({ title: z.string().max(256).optional(), parentID: z.string().optional() })

const ModelRefInput = z.union([
  z.string().min(1).max(MAX_MODEL_REF),
  z.object({ providerID: z.string().min(1).max(64), modelID: z.string().min(1).max(MAX_MODEL_REF) }),
])
const modelRefString = (model: z.infer<typeof ModelRefInput>): string =>
  typeof model === "string" ? model : `${model.providerID}/${model.modelID}`
/** A run's summary keeps its model ref whole, so the route accepts none longer than a summary holds. */
const ModelRef = ModelRefInput.refine((model) => modelRefString(model).length <= MAX_MODEL_REF, {
  message: `at most ${MAX_MODEL_REF} characters as "provider/model"`,
})
/** Ours (`{ text, model }`) or opencode's (`{ parts: [{ type: "text", text }], model: { providerID, modelID } }`). */
const PromptBody = z
  .object({
    text: z.string().min(1).max(200_000).optional(),
    parts: z
      .array(z.object({ type: z.string().max(32), text: z.string().max(200_000).optional() }).catchall(z.unknown()))
      .max(64)
      .optional(),
    model: ModelRef.optional(),
    /** The stopped run this prompt sends again (the app's Resend): kept on the new run as a link. */
    resendOf: RunId.optional(),
  })
  .catchall(z.unknown())
  .superRefine((body, ctx) => {
    const hasText = body.text !== undefined || (body.parts ?? []).some((part) => part.type === "text" && part.text)
    if (!hasText) ctx.addIssue({ code: "custom", path: ["text"], message: "required (or parts with a text part)" })
  })

/** `GET /session`: opencode's page of 100 by default; at most 1000 rows a page. */
const DEFAULT_PAGE = 100
const MAX_PAGE = 1000
const Millis = z
  .string()
  .regex(/^\d{1,15}$/, "a time in milliseconds")
  .transform(Number)
const ListQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,7}$/, "an integer from 0")
    .transform(Number)
    .pipe(z.number().max(MAX_PAGE, `at most ${MAX_PAGE}`))
    .optional(),
  // The last row's id (the x-next-cursor header) or a time: only sessions listed after it.
  before: z
    .union([Millis, z.string().regex(/^ses_[A-Za-z0-9]{1,64}$/)], { error: "a session id or a time in milliseconds" })
    .optional(),
  start: Millis.optional(),
  search: z.string().max(256).optional(),
  roots: z.enum(["true", "false"]).optional(),
})

const ExportQuery = z.object({ content: z.enum(["full", "diagnostics"]).optional() })

export function sessionRoutes(host: Host, defaultDirectory: string): Hono {
  const app = new Hono()
  const { sessions, processor, instances } = host

  const sessionOr404 = (id: string): SessionInfo => {
    const session = sessions.getSession(id)
    if (!session) throw new ApiError(404, "session_not_found", "no such session")
    return session
  }

  /** An untitled session takes its first prompt's first line as its title (a cosmetic write: never fails the prompt). */
  const nameFromFirstPrompt = (session: SessionInfo, text: string) => {
    try {
      const renamed = sessions.titleFromPrompt(session.id, text)
      if (renamed)
        host.bus.publish({
          type: "session.updated",
          properties: { info: publicSession(renamed, sessions) },
          directoryKey: session.directoryKey,
        })
    } catch {
      // The data dir refused the write: the session keeps its title.
    }
  }

  const startRun = async (c: Context, id: string, body: z.infer<typeof PromptBody>) => {
    const session = sessionOr404(id)
    // A run on a read-only database could keep none of its record (messages, journal, summary).
    if (host.storageReadOnly) throw new StorageUnavailableError(host.degraded)
    const text =
      body.text ??
      (body.parts ?? []).flatMap((part) => (part.type === "text" && part.text ? [part.text] : [])).join("\n")
    // Without one, the global config's model as the file is now (a PATCH or an edit by anyone), else the registry's default.
    const model = body.model === undefined ? await host.globalConfig.model() : modelRefString(body.model)
    // A link to a run of another session (or none) would tell a wrong story: refused, never echoed.
    if (body.resendOf !== undefined && !sessions.hasRun(session.id, body.resendOf)) {
      throw new ApiError(400, "invalid_body", "resendOf: not a run of this session")
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const instance = await instances.load(session.directory, session.directoryKey, () => requestRefOf(c), {
          forRun: true,
        })
        const run = processor.start(instance, session, text, model, body.resendOf ? { resendOf: body.resendOf } : {})
        nameFromFirstPrompt(session, text)
        return run
      } catch (err) {
        if (err instanceof ProviderError) throw new ApiError(400, "invalid_model", `model: ${err.message}`)
        if (err instanceof RunConflictError)
          throw new ApiError(409, "run_active", "this session already has an active run")
        if (err instanceof InstanceError) {
          // A reload that began between load and start: wait for its new generation once more.
          if (isReopening(instances.get(session.directoryKey)) && attempt < 3) continue
          throw new ApiError(409, "instance_closing", "the project instance is closing; try again")
        }
        throw err
      }
    }
  }

  app.post("/session", async (c) => {
    const body = await parseJsonBody(c, CreateBody)
    const { directory, key } = requestDirectory(c, defaultDirectory)
    const instance = await instances.load(directory, key, () => requestRefOf(c))
    const session = sessions.createSession({
      directory,
      directoryKey: key,
      projectID: instance.context.projectId,
      title: body.title,
    })
    const info = publicSession(session, sessions)
    host.bus.publish({ type: "session.updated", properties: { info }, directoryKey: key })
    return c.json(info)
  })

  app.get("/session", (c) => {
    const { key } = requestDirectory(c, defaultDirectory)
    const query = parseInput(ListQuery, c.req.query(), "invalid_query")
    const page = sessions.listSessionPage(key, {
      limit: query.limit ?? DEFAULT_PAGE,
      before: query.before,
      start: query.start,
      search: query.search || undefined,
    })
    if (!page) throw new ApiError(400, "invalid_query", "before: no such session in this directory")
    // The next page: `?before=<x-next-cursor>`; no header on the last page.
    if (page.next) c.header("x-next-cursor", page.next)
    return c.json(page.sessions)
  })

  app.get("/session/status", (c) => {
    const { key } = requestDirectory(c, defaultDirectory)
    const status: Record<string, { type: "busy" }> = {}
    for (const run of processor.activeRuns()) if (run.directoryKey === key) status[run.sessionId] = { type: "busy" }
    return c.json(status)
  })

  app.get("/session/:id", (c) => c.json(publicSession(sessionOr404(c.req.param("id")), sessions)))

  app.get("/session/:id/message", (c) => {
    const session = sessionOr404(c.req.param("id"))
    return streamedJson(c, jsonText(new Streamed(messagesInTurns(sessions, session.id)), 0), "messages", session.id)
  })

  app.post("/session/:id/prompt", async (c) => {
    const body = await parseJsonBody(c, PromptBody)
    const run = await startRun(c, c.req.param("id"), body)
    return c.json({ runId: run.runId })
  })

  app.post("/session/:id/prompt_async", async (c) => {
    const body = await parseJsonBody(c, PromptBody)
    await startRun(c, c.req.param("id"), body)
    return c.body(null, 204)
  })

  app.post("/session/:id/message", async (c) => {
    const body = await parseJsonBody(c, PromptBody)
    const run = await startRun(c, c.req.param("id"), body)
    const entry = instances.get(run.directoryKey)?.runs.get(run.runId)
    await entry?.settled
    // The run's own messages: a long session's others are never read.
    const answer = sessions
      .runMessages(run.sessionId, run.runId)
      .filter((message) => message.info.role === "assistant")
      .at(-1)
    if (!answer) {
      // The run finished in memory but the data dir refused its messages (full, locked): a storage fault, not a broken server.
      if (host.journal.health().faults.length > 0 || host.journal.health().backlog > 0)
        throw new StorageUnavailableError(host.degraded)
      throw new ApiError(500, "no_answer", "the run ended without an answer")
    }
    return c.json(answer)
  })

  app.post("/session/:id/abort", (c) => {
    const session = sessionOr404(c.req.param("id"))
    // The user's cancel, on the active run; one that finished (on its own, or taken by a close of
    // any kind) keeps it as late, never lost.
    instances.cancel(session.id, processor.activeRun(session.id), sessions.lastRun(session.id)?.runId, {
      kind: "user_cancel",
      request: requestRefOf(c),
    })
    return c.json(true)
  })

  app.get("/session/:id/run", (c) => {
    const session = sessionOr404(c.req.param("id"))
    return streamedJson(c, jsonText(new Streamed(runsInPages(sessions, session.id)), 0), "runs", session.id)
  })

  app.get("/session/:id/incident", (c) => {
    const session = sessionOr404(c.req.param("id"))
    // The chains alone: what the export derives them from, not the export (no messages, no capping).
    return streamedJson(c, sessionIncidentsText(host, session.id)!, "incidents", session.id)
  })

  app.get("/session/:id/export", (c) => {
    const session = sessionOr404(c.req.param("id"))
    const { content } = parseInput(ExportQuery, c.req.query(), "invalid_query")
    return streamedJson(c, sessionExportText(host, session.id, content ?? "full")!, "export", session.id)
  })

  return app
}

/** Runs read per page by the run list. */
const RUN_LIST_PAGE = 256

/**
 * Answers with `text` (JSON in pieces, `jsonText`) written as it is read, with the event loop's
 * turns where the text has them: a session's answer never holds the server for its whole length,
 * and a client that goes away stops the reading at the next turn. The head (the pieces up to the
 * first turn after some text: the export's head and first page of messages, the incident route's
 * whole scan and first page of chains, a list's first page) is read before the status is sent,
 * giving the loop its turns, so a fault there is an error answer; after the first bytes, a fault
 * can only cut the response short (no closing chunk), which no reader takes for a whole answer
 * (docs/protocol.md, "Export format").
 */
async function streamedJson(c: Context, text: Generator<string, void, undefined>, what: string, sessionId: string) {
  let head = ""
  for (let piece = text.next(); !piece.done; piece = text.next()) {
    if (piece.value !== "") head += piece.value
    else if (head) break
    else {
      await nextTurn()
      if (c.req.raw.signal.aborted) {
        // Gone before the first byte: nothing more is read.
        text.return()
        return c.body(null, 204)
      }
    }
  }
  c.header("content-type", "application/json")
  // Hono's stream helper ends the body cleanly after a fault; this one errors it, so a reader with
  // no socket to lose (an in-memory request) also sees the answer cut short.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
  const writer = writable.getWriter()
  const encoder = new TextEncoder()
  let gone = false
  // The reader went away (the client closed the connection, the body was cancelled): known at
  // once, not only at the next write, which can be a whole scan of turns with no text away.
  writer.closed.catch(() => {
    gone = true
  })
  const write = async (chunk: string) => {
    // A write fails only when the reader went away.
    await writer.write(encoder.encode(chunk)).catch(() => {
      gone = true
    })
  }
  void (async () => {
    try {
      await write(head)
      // The turn the head stopped at.
      await nextTurn()
      if (gone) text.return()
      // A text that ended after its reader went away is not closed (the stream is errored): no fault.
      else if ((await writeJsonText(text, write, () => gone)) && !gone) await writer.close()
    } catch (err) {
      console.error(
        `${what}: ${err instanceof Error ? err.name : "Error"} while writing session ${sessionId}; response cut short`,
      )
      // Over a socket, the connection is destroyed: no closing chunk is sent. Any other reader's
      // body ends in this error.
      const outgoing = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing
      if (outgoing) outgoing.destroy()
      else await writer.abort(err).catch(() => {})
    }
  })()
  return c.body(readable)
}

/** A session's runs as the run list shows them, in start order, a page at a time, with a turn after each. */
function* runsInPages(sessions: SessionStore, sessionId: string) {
  let after: RunPosition | undefined
  do {
    const read = sessions.runPage(sessionId, after, RUN_LIST_PAGE)
    for (const run of read.runs)
      yield {
        runId: run.runId,
        sessionId: run.sessionId,
        model: run.model,
        status: run.status,
        startedAt: run.startedAt,
        ...(run.resendOf ? { resendOf: run.resendOf } : {}),
        ...(run.summary ? { summary: run.summary } : {}),
      } satisfies Run
    after = read.next
    yield TURN
  } while (after)
}
