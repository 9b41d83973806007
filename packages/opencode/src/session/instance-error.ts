/**
 * A run refused because its instance is closing (`instance_closing`). Thrown by the processor
 * when a run would start in a closing generation and by the instance store when a run asks for
 * one; it lives with runs so that runs never import the store that holds instances.
 *
 * @example throw new InstanceError("instance_closing", "the project instance is closing; try again")
 */
export class InstanceError extends Error {
  constructor(
    readonly code: "instance_closing",
    message: string,
  ) {
    super(message)
  }
}
