/** The prompt a run was started with, read back from the transcript (for "Resend prompt"). */
import type { MessageWithParts } from "./shapes.ts"

export function userMessage(messages: readonly MessageWithParts[], runId: string): string | undefined {
  const own = messages.find((message) => message.info.role === "user" && message.info.runId === runId)
  const text = own?.parts.map((part) => (part.type === "text" && "text" in part ? String(part.text) : "")).join("")
  return text && text.trim() ? text : undefined
}
