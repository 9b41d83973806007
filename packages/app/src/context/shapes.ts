/**
 * The JSON shapes the app relies on (docs/api-shapes.md), parsed at the boundary. The spine's
 * own records come from the server package's schemas so the two can never drift; the shapes
 * that are opencode's (sessions, messages, parts) are declared here, lenient about extra fields.
 */
import { IncidentChain, LifecycleAction, RunSummary } from "opencode/provenance/schemas"
import { z } from "zod"

export const LastRun = z.object({
  runId: z.string(),
  status: z.enum(["running", "finished"]),
  classification: z.string().optional(),
  verdict: z.string().optional(),
})

export const Session = z.object({
  id: z.string(),
  projectID: z.string().optional(),
  directory: z.string().optional(),
  title: z.string().default(""),
  version: z.string().optional(),
  time: z.object({ created: z.number(), updated: z.number() }),
  lastRun: LastRun.optional(),
})
export type Session = z.infer<typeof Session>
export const SessionList = z.array(Session)

export const MessageInfo = z.object({
  id: z.string(),
  sessionID: z.string(),
  role: z.enum(["user", "assistant"]),
  time: z.object({ created: z.number(), completed: z.number().optional() }),
  runId: z.string().optional(),
  providerID: z.string().optional(),
  modelID: z.string().optional(),
})
export type MessageInfo = z.infer<typeof MessageInfo>

export const TextPart = z.object({
  id: z.string(),
  sessionID: z.string(),
  messageID: z.string(),
  type: z.literal("text"),
  text: z.string(),
})
export const ToolPart = z.object({
  id: z.string(),
  sessionID: z.string(),
  messageID: z.string(),
  type: z.literal("tool"),
  callID: z.string().optional(),
  tool: z.string(),
  state: z.object({ status: z.string() }).optional(),
  /** The file the call touched, when its input named one. */
  path: z.string().max(256).optional(),
})
/** Parts of other types are kept with their id so a message's order survives; they render as their type. */
export const OtherPart = z.object({ id: z.string(), sessionID: z.string(), messageID: z.string(), type: z.string() })
export const Part = z.union([TextPart, ToolPart, OtherPart])
export type Part = z.infer<typeof Part>

export const MessageWithParts = z.object({ info: MessageInfo, parts: z.array(Part) })
export type MessageWithParts = z.infer<typeof MessageWithParts>
export const MessageList = z.array(MessageWithParts)

export const RunRecord = z.object({
  runId: z.string(),
  sessionId: z.string(),
  model: z.string().optional(),
  status: z.enum(["running", "finished"]),
  startedAt: z.number(),
  summary: RunSummary.optional(),
})
export type RunRecord = z.infer<typeof RunRecord>
export const RunList = z.array(RunRecord)

export const IncidentList = z.array(IncidentChain)
export const PromptAnswer = z.object({ runId: z.string() }).partial()

/** A config file is any JSON object; the editor shows it as text. */
export const ConfigDocument = z.record(z.string(), z.unknown())

export const LifecycleEventProperties = z.object({ action: LifecycleAction })
