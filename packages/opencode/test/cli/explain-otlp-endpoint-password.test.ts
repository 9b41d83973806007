/**
 * `opencode explain FILE --otlp` names the receiver when it does not accept the traces, by its
 * origin and path only: a password in OTEL_EXPORTER_OTLP_ENDPOINT (an environment variable, a
 * secret) never lands on stderr, which is what a user pastes into a bug report.
 */
import { execFile } from "node:child_process"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, expect, test } from "vitest"
import { BIN } from "../harness.ts"
import { type Receiver, startReceiver } from "../tracing/otlp-receiver.ts"

const exec = promisify(execFile)
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/export-v2.json")
const PASSWORD = "cnryotlppass3e8d"

let receiver: Receiver
beforeAll(async () => {
  receiver = await startReceiver()
})
afterAll(async () => {
  await receiver?.close()
})

test("a refused --otlp send names the receiver without its user name and password", async () => {
  receiver.answer(400) // not retried: the send fails at once
  const endpoint = receiver.url.replace("http://", `http://collector:${PASSWORD}@`)
  let code = 0
  let stderr = ""
  try {
    await exec(process.execPath, [BIN, "explain", FIXTURE, "--otlp"], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
    })
  } catch (err: any) {
    code = err.code
    stderr = err.stderr ?? ""
  }
  // Positive control: the receiver was reached and refused, and explain said so.
  expect(receiver.requests.length).toBeGreaterThan(0)
  expect(code).toBe(1)
  expect(stderr).toContain(`the receiver at ${new URL(receiver.url).origin}/v1/traces did not accept the traces`)
  expect(stderr).not.toContain(PASSWORD)
  expect(stderr).not.toContain("collector")
}, 30_000)
