/**
 * Keeps other accounts on the machine off the server. Binding to loopback keeps other machines
 * out, not other users of this one: without it any local account could read every session and
 * write the owner's config. On Linux the kernel says who owns each TCP socket: the peer's end of
 * a connection is the row of `/proc/net/tcp` (or `tcp6`) whose local address is the peer's and
 * whose remote address is ours, and its `uid` column is the account that opened it. A connection
 * whose peer is not the server's own uid is refused, and so is one whose owner cannot be told,
 * while every same-user client (the CLI, the desktop window, a browser, opencode's SDK) gets in
 * with no token and no manual step.
 *
 * Cost: `tcp` (and `tcp6` when `tcp` has no match) is read once per new connection, keep-alive
 * requests reusing the answer; the kernel lists every TCP socket of the machine in it.
 */
import { readFile } from "node:fs/promises"
import { readFileSync } from "node:fs"
import { isIPv4, isIPv6 } from "node:net"
import os from "node:os"
import type { MiddlewareHandler } from "hono"
import { isInMemory } from "../in-memory.ts"
import { isLoopbackHostname } from "./host-origin.ts"
import { refuse } from "./refusal.ts"

/** The two tables of the kernel's TCP sockets: IPv4 sockets, and IPv6 sockets (v4-mapped included). */
const PROC_NET_TCP = ["/proc/net/tcp", "/proc/net/tcp6"] as const

/**
 * Who may use the server: `same_user` (only the uid that started it), `other_users_allowed`
 * (the opt-out, `OPENCODE_ALLOW_OTHER_USERS=1`), or `unavailable` (no way to tell a
 * connection's user here: not Linux, or `/proc/net/tcp` unreadable).
 */
export type PeerUserMode = "same_user" | "other_users_allowed" | "unavailable"

/** One socket of the kernel's table: its two ends as address keys (see `addressKey`), its owner and inode. */
interface TcpSocketRow {
  local: string
  remote: string
  uid: number
  /** 0 when no process holds the socket any more (closed, orphaned or in TIME_WAIT): its uid column says nothing then. */
  inode: number
}

/** What the kernel says about the peer's end of a connection. */
export type PeerOwner = { kind: "uid"; uid: number } | { kind: "unknown" } | { kind: "absent" }

/**
 * An endpoint as a key the kernel's table and Node's socket agree on: 32 hex digits of the
 * IPv6 address (IPv4 as `::ffff:a.b.c.d`, the zone id dropped), then `:` and the port.
 *
 * @example endpointKey("127.0.0.1", 4096) === endpointKey("::ffff:127.0.0.1", 4096)
 */
function endpointKey(address: string, port: number): string | undefined {
  const key = addressKey(address)
  return key === undefined ? undefined : `${key}:${port}`
}

/** 16 bytes of an IPv4 or IPv6 address as 32 lower-case hex digits; undefined when it is neither. */
export function addressKey(address: string): string | undefined {
  const bare = address.replace(/%.*$/, "")
  if (isIPv4(bare))
    return (
      "00000000000000000000ffff" +
      bare
        .split(".")
        .map((octet) => Number(octet).toString(16).padStart(2, "0"))
        .join("")
    )
  if (!isIPv6(bare)) return undefined
  let text = bare.toLowerCase()
  // A dotted IPv4 tail (`::ffff:127.0.0.1`) becomes its two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, rest] = text.split("::") as [string, string | undefined]
  const groupsOf = (part: string | undefined) => (part ? part.split(":") : [])
  const before = groupsOf(head)
  const after = groupsOf(rest)
  const groups =
    rest === undefined
      ? before
      : [...before, ...Array<string>(Math.max(0, 8 - before.length - after.length)).fill("0"), ...after]
  if (groups.length !== 8) return undefined
  return groups.map((g) => g.padStart(4, "0")).join("")
}

/** The kernel prints each 32-bit word of an address in the machine's byte order. */
function procAddressKey(hex: string, littleEndian: boolean): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$|^[0-9A-Fa-f]{32}$/.test(hex)) return undefined
  const words = hex.match(/.{8}/g)!.map((word) => {
    const bytes = word.match(/../g)!
    return (littleEndian ? bytes.reverse() : bytes).join("")
  })
  const bytes = words.join("").toLowerCase()
  return bytes.length === 8 ? "00000000000000000000ffff" + bytes : bytes
}

function procEndpointKey(field: string, littleEndian: boolean): string | undefined {
  const [address, port] = field.split(":")
  if (address === undefined || port === undefined || !/^[0-9A-Fa-f]{4}$/.test(port)) return undefined
  const key = procAddressKey(address, littleEndian)
  return key === undefined ? undefined : `${key}:${parseInt(port, 16)}`
}

/**
 * The rows of `/proc/net/tcp` or `/proc/net/tcp6` (header and malformed lines skipped).
 *
 * @example parseProcNetTcp(readFileSync("/proc/net/tcp", "utf8"), os.endianness() === "LE")
 */
export function parseProcNetTcp(text: string, littleEndian: boolean): TcpSocketRow[] {
  const rows: TcpSocketRow[] = []
  for (const line of text.split("\n")) {
    // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode, ...
    const fields = line.trim().split(/\s+/)
    if (fields.length < 10 || !/^\d+:$/.test(fields[0]!)) continue
    const local = procEndpointKey(fields[1]!, littleEndian)
    const remote = procEndpointKey(fields[2]!, littleEndian)
    const uid = Number(fields[7])
    const inode = Number(fields[9])
    if (local === undefined || remote === undefined || !Number.isInteger(uid) || !Number.isInteger(inode)) continue
    rows.push({ local, remote, uid, inode })
  }
  return rows
}

/**
 * The owner of the peer's end of a connection from `peer` to `local`: its uid, `unknown` when the
 * peer no longer holds it (the kernel then reports no owner), or `absent` when no socket of this
 * machine is that end (the peer is another machine). Reads `tcp6` only when `tcp` has no match.
 */
export async function peerOwner(
  peer: { address: string; port: number },
  local: { address: string; port: number },
  readTable: (file: string) => Promise<string> = (file) => readFile(file, "utf8"),
  littleEndian = os.endianness() === "LE",
): Promise<PeerOwner> {
  const peerKey = endpointKey(peer.address, peer.port)
  const localKey = endpointKey(local.address, local.port)
  if (peerKey === undefined || localKey === undefined) throw new Error("connection has no address")
  // Only lines naming the peer's port are parsed: the tables hold every socket of the machine.
  const portField = `:${peer.port.toString(16).toUpperCase().padStart(4, "0")} `
  for (const file of PROC_NET_TCP) {
    const candidates = (await readTable(file)).split("\n").filter((line) => line.includes(portField))
    const rows = parseProcNetTcp(candidates.join("\n"), littleEndian).filter(
      (row) => row.local === peerKey && row.remote === localKey,
    )
    if (rows.length === 0) continue
    const held = rows.filter((row) => row.inode !== 0)
    if (held.length === 0) return { kind: "unknown" }
    // One 4-tuple is one socket; two rows that disagree say nothing certain.
    const uids = new Set(held.map((row) => row.uid))
    return uids.size === 1 ? { kind: "uid", uid: held[0]!.uid } : { kind: "unknown" }
  }
  return { kind: "absent" }
}

/** Whether `address` (as Node reports a peer) is a loopback address, v4-mapped included. */
function isLoopbackAddress(address: string): boolean {
  return isLoopbackHostname(
    address
      .replace(/^::ffff:/i, "")
      .replace(/%.*$/, "")
      .toLowerCase(),
  )
}

/**
 * The mode a server starts in: the opt-out wins, else `same_user` where this process can read
 * the kernel's socket table and knows its uid, else `unavailable`.
 *
 * @example peerUserMode({ allowOtherUsers: false }) // "same_user" on Linux
 */
export function peerUserMode(
  options: { allowOtherUsers: boolean },
  platform: NodeJS.Platform = process.platform,
): PeerUserMode {
  if (options.allowOtherUsers) return "other_users_allowed"
  if (platform !== "linux" || typeof process.getuid !== "function") return "unavailable"
  try {
    readFileSync(PROC_NET_TCP[0], "utf8")
    return "same_user"
  } catch {
    return "unavailable"
  }
}

/**
 * Reads `OPENCODE_ALLOW_OTHER_USERS`: `1` opts out of the same-user check, unset, empty or `0`
 * keeps it; any other value is an error (a typo must not open the server).
 *
 * @example allowOtherUsersFromEnv(process.env) // { ok: true, allow: false }
 */
export function allowOtherUsersFromEnv(
  env: Record<string, string | undefined>,
): { ok: true; allow: boolean } | { ok: false; error: string } {
  const value = env.OPENCODE_ALLOW_OTHER_USERS
  if (value === undefined || value === "" || value === "0") return { ok: true, allow: false }
  if (value === "1") return { ok: true, allow: true }
  return {
    ok: false,
    error:
      "OPENCODE_ALLOW_OTHER_USERS must be 1 (let other users on this machine in) or 0 (only this user, the default)",
  }
}

/**
 * The line `serve` and `desktop` print about who may connect.
 *
 * @example peerUserModeLine("same_user", false)
 */
export function peerUserModeLine(mode: PeerUserMode, tokenSet: boolean): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined
  if (mode === "same_user")
    return `only this user (uid ${uid}) can use this server; other users on this machine are refused (OPENCODE_ALLOW_OTHER_USERS=1 lets them in)`
  const others = tokenSet
    ? "other users on this machine need the token"
    : "any user on this machine can use this server; set OPENCODE_SERVER_TOKEN to keep them out"
  if (mode === "other_users_allowed") return `OPENCODE_ALLOW_OTHER_USERS=1: ${others}`
  return `warning: this system cannot tell which user a connection comes from (needs Linux's /proc/net/tcp): ${others}`
}

type SameUserOptions = {
  /** The uid allowed in: the server's own. */
  uid: number
  /** Told of each refusal (the only trace a refused request leaves). */
  onRefused?: () => void
  /** Looks up the owner of a connection's peer; default `peerOwner` on the kernel's tables. */
  lookup?: typeof peerOwner
}

type PeerSocket = { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number }

/**
 * 403 `forbidden_user` for a connection whose peer socket belongs to another uid, or whose owner
 * cannot be told (the peer closed it, or the table could not be read) unless the peer is another
 * machine (which the token guards: binding beyond loopback needs one). Looked up once per
 * connection. A request with no socket passes only when the server made it in memory
 * (`ServerCore.request`, marked in its env); any other is refused: it has no peer to vouch for.
 *
 * @example app.use(sameUser({ uid: process.getuid!(), onRefused: () => refused.user++ }))
 */
export function sameUser(options: SameUserOptions): MiddlewareHandler {
  const lookup = options.lookup ?? peerOwner
  const verdicts = new WeakMap<object, Promise<boolean>>()
  const allowed = async (socket: PeerSocket): Promise<boolean> => {
    const { remoteAddress, remotePort, localAddress, localPort } = socket
    if (!remoteAddress || remotePort === undefined || !localAddress || localPort === undefined) return false
    try {
      const owner = await lookup(
        { address: remoteAddress, port: remotePort },
        { address: localAddress, port: localPort },
      )
      if (owner.kind === "uid") return owner.uid === options.uid
      return owner.kind === "absent" && !isLoopbackAddress(remoteAddress)
    } catch {
      return false
    }
  }
  return async function sameUser(c, next) {
    const socket = (c.env as { incoming?: { socket?: PeerSocket } } | undefined)?.incoming?.socket
    if (!socket) {
      if (isInMemory(c)) return next()
      options.onRefused?.()
      return refuse(c, 403, "forbidden_user", "this server serves only the user who started it")
    }
    let verdict = verdicts.get(socket)
    if (!verdict) verdicts.set(socket, (verdict = allowed(socket)))
    if (await verdict) return next()
    options.onRefused?.()
    return refuse(c, 403, "forbidden_user", "this server serves only the user who started it")
  }
}
