/** opencode's own session export (`opencode export`): its messages only, no fact of the spine. */
import { sessionIdToken } from "../foreign-text.ts"
import { emptyResult, type Json, NOT_IN_MESSAGES_ONLY, readMessages, type ReadSuccess, unknownKeys } from "./common.ts"

export function readUpstream(doc: Json): ReadSuccess {
  const result = emptyResult("upstream-opencode", [])
  const info = doc.info as Json
  const id = sessionIdToken(info.id)
  if (id) result.session = { id }
  readMessages(doc.messages, result)
  result.notRecorded = [...NOT_IN_MESSAGES_ONLY]
  result.unknownFields = unknownKeys(doc, new Set(["info", "messages"]), "")
  return result
}
