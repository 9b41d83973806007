/**
 * Query keys and the pure updates that apply live events to cached query data, so the
 * session view streams parts without refetching.
 */
import type { MessageInfo, MessageWithParts, Part, Session } from "./shapes.ts"

export const queryKeys = {
  sessions: (directory: string | undefined) => ["sessions", directory ?? ""] as const,
  /** One session, by its id (ids are unique across projects). */
  session: (sessionId: string) => ["session", sessionId] as const,
  messages: (directory: string | undefined, sessionId: string) => ["messages", directory ?? "", sessionId] as const,
  runs: (directory: string | undefined, sessionId: string) => ["runs", directory ?? "", sessionId] as const,
  incidents: (directory: string | undefined, sessionId: string) => ["incidents", directory ?? "", sessionId] as const,
  config: (directory: string | undefined) => ["config", directory ?? ""] as const,
}

/** Inserts or replaces a part; a part of an unknown message creates a placeholder assistant message. */
export function applyPart(
  list: readonly MessageWithParts[] | undefined,
  part: Part,
  delta?: string,
): MessageWithParts[] {
  const messages = [...(list ?? [])]
  let index = messages.findIndex((message) => message.info.id === part.messageID)
  if (index < 0) {
    messages.push({
      info: { id: part.messageID, sessionID: part.sessionID, role: "assistant", time: { created: Date.now() } },
      parts: [],
    })
    index = messages.length - 1
  }
  const message = messages[index]!
  const parts = [...message.parts]
  const at = parts.findIndex((item) => item.id === part.id)
  let next = part
  if (delta && part.type === "text" && at >= 0) {
    const previous = parts[at]!
    if (
      "text" in previous &&
      typeof previous.text === "string" &&
      "text" in part &&
      part.text.length <= previous.text.length
    ) {
      // The event's whole text, ending in its delta, is already in what we hold (a read of the
      // messages that landed before the event): the chunk is not added twice. A server that sends
      // only the delta with a stale text still streams correctly.
      const held = part.text.endsWith(delta) && previous.text.startsWith(part.text)
      next = { ...part, text: held ? previous.text : previous.text + delta }
    }
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

function applySession(list: readonly Session[] | undefined, session: Session): Session[] {
  const sessions = [...(list ?? [])]
  const index = sessions.findIndex((item) => item.id === session.id)
  if (index < 0) sessions.unshift(session)
  else sessions[index] = session
  return sessions
}

/** Sessions per page of `GET /session` (the server's default; it answers at most 1000). */
export const SESSION_PAGE = 100

/** The query of one page: the first (no cursor) or the one after the session `before`. */
export function sessionPageQuery(before: string | undefined): Record<string, string | undefined> {
  return { limit: String(SESSION_PAGE), before }
}

/** The cursor of the page after `page`: its last session's id when it is full, else none (the last page). */
export function nextSessionCursor(page: readonly Session[]): string | undefined {
  return page.length >= SESSION_PAGE ? page[page.length - 1]?.id : undefined
}

export interface SessionPages {
  pages: Session[][]
  pageParams: unknown[]
}

/** A live session update on paged data: replaced where it is listed, else added at the top of the first page. */
export function applySessionToPages(data: SessionPages | undefined, session: Session): SessionPages {
  if (!data || data.pages.length === 0) return { pages: [[session]], pageParams: [undefined] }
  const at = data.pages.findIndex((page) => page.some((item) => item.id === session.id))
  const pages = data.pages.map((page, index) => (index === at ? applySession(page, session) : page))
  if (at < 0) pages[0] = applySession(pages[0], session)
  return { ...data, pages }
}

/** Every loaded page as one list, newest update first, each session once (a session updated between two page reads is listed on both). */
export function flattenSessionPages(data: SessionPages | undefined): Session[] {
  const seen = new Map<string, Session>()
  for (const page of data?.pages ?? [])
    for (const session of page)
      if (!seen.has(session.id) || seen.get(session.id)!.time.updated < session.time.updated)
        seen.set(session.id, session)
  return [...seen.values()].sort((a, b) => b.time.updated - a.time.updated)
}
