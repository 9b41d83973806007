/**
 * The JSON shapes the app relies on, parsed at the boundary. Each is the server's own wire schema
 * (`opencode/provenance`, defined once in the server's provenance/wire.ts, with docs/api-shapes.md
 * generated from it), so the app and the server can never drift; the names here are the app's.
 */
import { Message, Run } from "opencode/provenance"
import type { z } from "zod"

export {
  ConfigDocument,
  IncidentList,
  MessageInfo,
  MessageList,
  Part,
  PromptAnswer,
  RunList,
  Session,
  SessionList,
} from "opencode/provenance"

/** A message with its parts, in order (`GET /session/:id/message`). */
export const MessageWithParts = Message
export type MessageWithParts = Message

/**
 * A run as the app keeps it: one of `GET /session/:id/run`, or one it learnt of from `run.finished`,
 * whose summary may not name the model.
 */
export const RunRecord = Run.extend({ model: Run.shape.model.optional() })
export type RunRecord = z.infer<typeof RunRecord>
