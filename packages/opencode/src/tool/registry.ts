/**
 * The built-in tools and their specs for the provider. Tools handed out here validate their
 * input first: a model's arguments are untrusted JSON, and a bad field must come back as
 * ToolError("invalid_input") naming it, not as a crash inside the tool.
 */
import { z } from "zod"
import type { ToolSpec } from "../provider/provider.ts"
import { listTool } from "./list.ts"
import { readTool } from "./read.ts"
import { ToolError, type Tool } from "./tool.ts"
import { writeTool } from "./write.ts"

/** Parses `raw` with the tool's schema, or throws ToolError("invalid_input") naming each bad field. */
export function parseToolInput<Input>(tool: Pick<Tool<Input>, "name" | "input">, raw: unknown): Input {
  const result = tool.input.safeParse(raw)
  if (result.success) return result.data
  const problems = result.error.issues.slice(0, 5).map((issue) => {
    const field = issue.path.length > 0 ? issue.path.map(String).join(".") : "input"
    return `${field}: ${issue.message}`
  })
  throw new ToolError("invalid_input", `invalid input for tool ${tool.name}: ${problems.join("; ")}`)
}

/** The same tool, with `execute` validating its (untrusted) input before running. */
function withInputValidation<Input>(tool: Tool<Input>): Tool<Input> {
  // async, so a bad input rejects the returned promise instead of throwing synchronously.
  return { ...tool, execute: async (input, ctx) => tool.execute(parseToolInput(tool, input), ctx) }
}

export function builtinTools(): Tool[] {
  return [readTool, listTool, writeTool].map((tool) => withInputValidation<any>(tool))
}

/**
 * What a tool call is recorded as: the model (or a remote) chose these strings, so a known tool's
 * name and an id-shaped call id are kept, anything else only as a digest.
 *
 * @example recordedToolCall({ id: "call 1", name: "rm" }, tools, digest) // { callId: "call_<digest>", name: "unknown_tool:<digest>" }
 */
export function recordedToolCall(
  call: { id: string; name: string },
  tools: readonly Tool[],
  digest: (value: string) => string,
): { callId: string; name: string } {
  return {
    callId: /^[A-Za-z0-9_-]{1,64}$/.test(call.id) ? call.id : `call_${digest(call.id)}`,
    name: tools.some((tool) => tool.name === call.name) ? call.name : `unknown_tool:${digest(call.name)}`,
  }
}

/** The specs the provider sees: name, description and the input's JSON Schema. */
export function toolSpecs(tools: Tool[]): ToolSpec[] {
  return tools.map((tool) => {
    // `io: "input"` describes what the model must send (optional fields stay optional).
    const { $schema: _dialect, ...parameters } = z.toJSONSchema(tool.input, { io: "input" }) as Record<string, unknown>
    return { name: tool.name, description: tool.description, parameters }
  })
}
