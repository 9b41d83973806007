/**
 * Tools the model may call. Each declares its side-effect kind: the run summary records it
 * before the tool runs, and retry safety is judged from those facts alone.
 */
import type { z } from "zod"
import type { SideEffectKind } from "../provenance/schemas.ts"

export interface ToolContext {
  /** The project directory (already normalised); tools must stay inside it. */
  directory: string
  signal: AbortSignal
}

export interface Tool<Input = any> {
  name: string
  description: string
  kind: SideEffectKind
  input: z.ZodType<Input>
  execute(input: Input, ctx: ToolContext): Promise<{ output: string }>
}

type ToolErrorCode =
  "invalid_input" | "path_outside_project" | "path_refused" | "not_regular_file" | "not_found" | "io_error" | "aborted"

export class ToolError extends Error {
  override name = "ToolError"
  constructor(
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message)
  }
}
