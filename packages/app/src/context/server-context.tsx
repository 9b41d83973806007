/**
 * The app-wide server connection and the read path: `read(path, schema)` makes a plain app
 * request (no action headers). Anything that changes server state goes through `runAction`.
 */
import { createContext, type ParentProps, useContext } from "solid-js"
import type { z } from "zod"
import type { ServerConnection } from "./server.ts"

interface ServerState {
  connection: ServerConnection
  read<T>(path: string, schema: z.ZodType<T>, query?: Record<string, string | undefined>): Promise<T>
}

const ServerContext = createContext<ServerState>()

export function createServerState(connection: ServerConnection): ServerState {
  return {
    connection,
    async read(path, schema, query) {
      const { data } = await connection.request("GET", path, { schema, query })
      return data
    },
  }
}

export function ServerProvider(props: ParentProps<{ connection: ServerConnection }>) {
  return <ServerContext.Provider value={createServerState(props.connection)}>{props.children}</ServerContext.Provider>
}

export function useServer(): ServerState {
  const state = useContext(ServerContext)
  if (!state) throw new Error("useServer outside ServerProvider")
  return state
}
