/**
 * `opencode serve`: prints `opencode server listening on http://HOST:PORT` once it accepts
 * requests, then on its own line who may use it (only this user, by default).
 */
import { parseArgs } from "node:util"
import { allowOtherUsersFromEnv, peerUserModeLine } from "../server/middleware/same-user.ts"
import { tokenRefusal } from "../server/middleware/auth.ts"
import { startServer } from "../server/server.ts"
import { scrubForLog } from "../server/errors.ts"
import { appIsBuilt } from "../server/routes/static-app.ts"
import { resolveDataDir } from "./data-dir.ts"

export async function runServe(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "4096" },
      hostname: { type: "string", default: "127.0.0.1" },
      "data-dir": { type: "string" },
      directory: { type: "string" },
      // Passed by opencode's SDK launcher (`createOpencodeServer`); diagnostics here have no log levels.
      "log-level": { type: "string" },
    },
    allowPositionals: false,
    strict: true,
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`opencode serve: --port must be an integer from 0 to 65535, got "${values.port}"`)
    return 1
  }
  const hostname = values.hostname!
  const token = process.env.OPENCODE_SERVER_TOKEN || undefined
  const refusal = tokenRefusal(token, hostname)
  if (refusal) {
    console.error(`opencode serve: ${refusal}`)
    return 1
  }
  const allowOtherUsers = allowOtherUsersFromEnv(process.env)
  if (!allowOtherUsers.ok) {
    console.error(`opencode serve: ${allowOtherUsers.error}`)
    return 1
  }
  const dataDir = resolveDataDir(values["data-dir"])
  let running
  try {
    running = await startServer({
      port,
      hostname,
      dataDir,
      defaultDirectory: values.directory ?? process.cwd(),
      token,
      allowOtherUsers: allowOtherUsers.allow,
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      console.error(
        `opencode serve: port ${port} on ${hostname} is already in use; pass --port N (or --port 0 for a free one)`,
      )
      return 1
    }
    throw err
  }
  console.log(`opencode server listening on ${running.url}`)
  console.log(peerUserModeLine(running.peerUserMode, token !== undefined))
  if (!appIsBuilt()) console.error("note: the app is not built (npm run build); the API is served, the page is not")
  // Printed once, on its own line: a one-time code, never the token, since a browser keeps every
  // URL it opened. The code is in the fragment, which no server or proxy sees or logs.
  const signInUrl = running.signInUrl()
  if (signInUrl)
    console.log(
      `open ${signInUrl} in a browser to sign in (the link works once, for 10 minutes; after that, paste the token)`,
    )

  let signals = 0
  const onSignal = (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => {
    signals++
    if (signals > 1) {
      // A second signal exits at once: each close was journalled before any run was aborted, and
      // the next start reads a run whose summary is missing as that close. Dying by the signal
      // itself (its default action) waits on nothing, not even a thread stuck in a file call.
      for (const name of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.removeAllListeners(name)
      process.kill(process.pid, signal)
      return
    }
    // Bounded: a shutdown that outlived its settle timeout resolves `timed_out` (exit 1).
    running.shutdown(signal).then(
      (outcome) => process.exit(outcome === "closed" ? 0 : 1),
      () => process.exit(1),
    )
  }
  process.on("SIGTERM", () => onSignal("SIGTERM"))
  process.on("SIGINT", () => onSignal("SIGINT"))
  process.on("SIGHUP", () => onSignal("SIGHUP"))
  process.on("uncaughtException", (err) => {
    // Scrubbed: an error's text can carry an API key or a token.
    console.error("uncaught exception:", scrubForLog(err))
    running.shutdown("uncaught_exception").then(
      () => process.exit(1),
      () => process.exit(1),
    )
  })
  return 0
}
