/**
 * The `opencode` command: `serve`, `desktop`, `export` and `explain` (docs/protocol.md, "Command line").
 */
import { parseArgs } from "node:util"
import { runServe } from "./serve.ts"
import { runDesktop } from "./desktop.ts"
import { runExport } from "./export.ts"
import { runExplain } from "./explain.ts"

const USAGE = `usage:
  opencode serve [--port 4096] [--hostname 127.0.0.1] [--data-dir DIR] [--directory DIR]
  opencode desktop [--data-dir DIR] [--directory DIR] [--url http://127.0.0.1:PORT]
  opencode export SESSION_ID [--out FILE] [--diagnostics-only] [--data-dir DIR]
  opencode explain FILE [--json] [--otlp]`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case "serve":
      return runServe(rest)
    case "desktop":
      return runDesktop(rest)
    case "export":
      return runExport(rest)
    case "explain":
      return runExplain(rest)
    case "--help":
    case "-h":
    case "help":
    case undefined:
      console.log(USAGE)
      return command === undefined ? 1 : 0
    case "--version":
      console.log("0.1.0")
      return 0
    default:
      console.error(`opencode: unknown command "${command.slice(0, 64)}"\n${USAGE}`)
      return 1
  }
}

export { parseArgs }

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== "serve") process.exitCode = code
  },
  (err: unknown) => {
    console.error(`opencode: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  },
)
