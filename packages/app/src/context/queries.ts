/**
 * Query keys and the pure updates that apply live events to cached query data, so the
 * session view streams parts without refetching.
 */
import type { MessageInfo, MessageWithParts, Part, Session } from "./shapes.ts"

export const queryKeys = {
  sessions: (directory: string | undefined) => ["sessions", directory ?? ""] as const,
  messages: (directory: string | undefined, sessionId: string) => ["messages", directory ?? "", sessionId] as const,
  runs: (directory: string | undefined, sessionId: string) => ["runs", directory ?? "", sessionId] as const,
  incidents: (directory: string | undefined, sessionId: string) => ["incidents", directory ?? "", sessionId] as const,
  config: (directory: string | undefined) => ["config", directory ?? ""] as const,
}

/** Inserts or replaces a part; a part of an unknown message creates a placeholder assistant message. */
export function applyPart(list: readonly MessageWithParts[] | undefined, part: Part, delta?: string): MessageWithParts[] {
  const messages = [...(list ?? [])]
  let index = messages.findIndex((message) => message.info.id === part.messageID)
  if (index < 0) {
    messages.push({ info: { id: part.messageID, sessionID: part.sessionID, role: "assistant", time: { created: Date.now() } }, parts: [] })
    index = messages.length - 1
  }
  const message = messages[index]!
  const parts = [...message.parts]
  const at = parts.findIndex((item) => item.id === part.id)
  let next = part
  // A server that sends only the delta with a stale text still streams correctly.
  if (delta && part.type === "text" && at >= 0) {
    const previous = parts[at]!
    if ("text" in previous && typeof previous.text === "string" && "text" in part && part.text.length <= previous.text.length) next = { ...part, text: previous.text + delta }
  }
  if (at >= 0) parts[at] = next
  else parts.push(next)
  messages[index] = { ...message, parts }
  return messages
}

export function applyMessageInfo(list: readonly MessageWithParts[] | undefined, info: MessageInfo): MessageWithParts[] {
  const messages = [...(list ?? [])]
  const index = messages.findIndex((message) => message.info.id === info.id)
  if (index < 0) messages.push({ info, parts: [] })
  else messages[index] = { ...messages[index]!, info }
  return messages
}

export function applySession(list: readonly Session[] | undefined, session: Session): Session[] {
  const sessions = [...(list ?? [])]
  const index = sessions.findIndex((item) => item.id === session.id)
  if (index < 0) sessions.unshift(session)
  else sessions[index] = session
  return sessions
}
