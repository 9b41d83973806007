/**
 * The wire: the JSON shapes the server answers (sessions, messages, parts, runs) and every event
 * `GET /event` sends, each defined once, here. Server types are `z.infer` of these schemas, the
 * bus's `publish` takes only the events defined here, the app parses with them, and
 * docs/api-shapes.md is generated from them (`npm run schema`). Browser-safe: zod and the spine's
 * record schemas only.
 *
 * Sessions, messages and parts keep opencode's shapes (its field names, `sessionID` and all);
 * the spine's own records (`RunSummary`, `LifecycleAction`, `IncidentChain`) are `./schemas.ts`.
 */
import { z } from "zod"
import { Classification, IncidentChain, LifecycleAction, RunId, RunSummary } from "./schemas.ts"

const time = z.number().int().nonnegative()

/** A run's state as the session list shows it: running, or finished with its classification. */
const RunStatus = z.enum(["running", "finished"])
type RunStatus = z.infer<typeof RunStatus>

const LastRun = z.object({ runId: z.string(), status: RunStatus, classification: Classification.optional() })
type LastRun = z.infer<typeof LastRun>

/** `GET /session`, `GET /session/:id`, `POST /session` and `session.updated`: opencode's session, with its last run. */
export const Session = z.object({
  id: z.string(),
  projectID: z.string(),
  directory: z.string(),
  title: z.string(),
  version: z.string(),
  time: z.object({ created: time, updated: time }),
  lastRun: LastRun.optional(),
})
export type Session = z.infer<typeof Session>

export const MessageInfo = z
  .object({
    id: z.string(),
    sessionID: z.string(),
    role: z.enum(["user", "assistant"]),
    time: z.object({ created: time, completed: time.optional() }),
    runId: z.string().optional(),
    providerID: z.string().optional(),
    modelID: z.string().optional(),
  })
  .meta({ description: "opencode's message info: identity, role and times." })
export type MessageInfo = z.infer<typeof MessageInfo>

export const TextPart = z.object({
  id: z.string(),
  sessionID: z.string(),
  messageID: z.string(),
  type: z.literal("text"),
  text: z.string(),
})
export type TextPart = z.infer<typeof TextPart>

const ToolStatus = z.enum(["running", "completed", "error"])

export const ToolPart = z.object({
  id: z.string(),
  sessionID: z.string(),
  messageID: z.string(),
  type: z.literal("tool"),
  callID: z.string(),
  tool: z.string(),
  state: z.object({ status: ToolStatus }),
  /** The file the call touched, as its input named it: the full form only (the diagnostics form leaves it out). */
  path: z.string().max(256).optional(),
})
export type ToolPart = z.infer<typeof ToolPart>

export const Part = z.union([TextPart, ToolPart])
export type Part = z.infer<typeof Part>

/** `GET /session/:id/message`: a message with its parts, in order. */
export const Message = z.object({ info: MessageInfo, parts: z.array(Part) })
export type Message = z.infer<typeof Message>

/** `GET /session/:id/run`: one run of the session, its summary once it finished. */
export const Run = z.object({
  runId: RunId,
  sessionId: z.string(),
  model: z.string(),
  status: RunStatus,
  startedAt: time,
  /** The stopped run this one was sent again for (`resendOf` on its prompt). */
  resendOf: RunId.optional(),
  summary: RunSummary.optional(),
})
export type Run = z.infer<typeof Run>

/** `POST /session/:id/prompt`: the run the prompt started. */
export const PromptAnswer = z.object({ runId: RunId })
export type PromptAnswer = z.infer<typeof PromptAnswer>

/** `GET /config`, `GET /global/config`: a config file is any JSON object. */
export const ConfigDocument = z.record(z.string(), z.unknown())
export type ConfigDocument = z.infer<typeof ConfigDocument>

/** Every error answer: a code to act on, a message that names the field or the cause. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** With `storage_unavailable`: which storage faults are current. */
    degraded: z.array(z.string()).optional(),
  }),
})
export type ErrorBody = z.infer<typeof ErrorBody>

export const SessionList = z.array(Session)
export const MessageList = z.array(Message)
export const RunList = z.array(Run)
export const IncidentList = z.array(IncidentChain)

/** The shapes docs/api-shapes.md shows, by name, in this order. */
export const SHAPES = { Session, LastRun, MessageInfo, Part, Message, Run, PromptAnswer, ErrorBody } as const

/** One `/event` event: its type and the schema of its properties (as opencode's `BusEvent.define`). */
interface EventDefinition<Type extends string = string, Properties extends z.ZodType = z.ZodType> {
  type: Type
  properties: Properties
  /** When it is sent, for docs/api-shapes.md. */
  description: string
}

function defineEvent<Type extends string, Properties extends z.ZodType>(
  type: Type,
  properties: Properties,
  description: string,
): EventDefinition<Type, Properties> {
  return { type, properties, description }
}

const LifecycleProperties = z.object({ action: LifecycleAction })

/** Every event `GET /event` sends. */
export const WireEvents = {
  ServerConnected: defineEvent(
    "server.connected",
    z.object({ bootId: z.string() }),
    "Always first on a connection; its id is where a reconnect resumes. Sent to that connection only.",
  ),
  ServerHeartbeat: defineEvent("server.heartbeat", z.object({}), "Every 10 s."),
  ServerReplayGap: defineEvent(
    "server.replay_gap",
    z.object({ reason: z.enum(["overrun", "restart"]), lastEventId: z.string().max(128) }),
    "Instead of a replay the server cannot give: the buffer no longer holds the events (`overrun`), or the id names another boot (`restart`). Sent to that connection only.",
  ),
  ServerInstanceDisposed: defineEvent(
    "server.instance.disposed",
    z.object({ directory: z.string() }),
    "When an instance closes without reopening.",
  ),
  SessionUpdated: defineEvent(
    "session.updated",
    z.object({ info: Session }),
    "A session was created, or a run of it started or ended.",
  ),
  SessionStatus: defineEvent(
    "session.status",
    z.object({ sessionID: z.string(), status: z.object({ type: z.enum(["busy", "idle"]) }) }),
    "A run started (`busy`) or ended (`idle`).",
  ),
  SessionIdle: defineEvent("session.idle", z.object({ sessionID: z.string() }), "A run ended."),
  MessageUpdated: defineEvent(
    "message.updated",
    z.object({ info: MessageInfo }),
    "A message was created or completed.",
  ),
  MessagePartUpdated: defineEvent(
    "message.part.updated",
    z.object({ part: Part, delta: z.string().optional() }),
    "A part was written; a streamed text part carries the text added (`delta`).",
  ),
  RunStarted: defineEvent(
    "run.started",
    z.object({
      runId: RunId,
      sessionID: z.string(),
      model: z.string(),
      startedAt: time,
      directoryKey: z.string(),
      resendOf: RunId.optional(),
    }),
    "A run was journalled as started, before the provider is called.",
  ),
  RunFinished: defineEvent(
    "run.finished",
    z.object({ summary: RunSummary, incident: IncidentChain.optional() }),
    "A run's summary was written; the incident chain when the run did not complete.",
  ),
  LifecycleActionStarted: defineEvent(
    "lifecycle.action.started",
    LifecycleProperties,
    "A lifecycle action was journalled, before any run it closes is aborted; with its origin, so the app can link it to the action the user just took.",
  ),
  LifecycleActionFinished: defineEvent(
    "lifecycle.action.finished",
    LifecycleProperties,
    "A lifecycle action finished: the instances and runs it closed.",
  ),
} as const

type Definitions = (typeof WireEvents)[keyof typeof WireEvents]
export type EventType = Definitions["type"]
type EventProperties<T extends EventType> = z.infer<Extract<Definitions, { type: T }>["properties"]>
/** An event as `/event` sends it: `{ type, properties }`. */
export type ServerEvent = { [T in EventType]: { type: T; properties: EventProperties<T> } }[EventType]

/** The events by type. */
export const EVENTS: { readonly [T in EventType]: Extract<Definitions, { type: T }> } = Object.fromEntries(
  Object.values(WireEvents).map((definition) => [definition.type, definition]),
) as never

/** Each event's properties schema, by type (what a client parses an event's properties with). */
export const EVENT_PROPERTIES: { readonly [T in EventType]: (typeof EVENTS)[T]["properties"] } = Object.fromEntries(
  Object.values(WireEvents).map((definition) => [definition.type, definition.properties]),
) as never
