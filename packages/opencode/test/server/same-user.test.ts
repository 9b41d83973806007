/**
 * The same-user check's parts: reading the kernel's socket tables, finding a connection's peer in
 * them, and the middleware's verdict, made once per connection. The real second uid is in
 * `hardening/other-user.test.ts`.
 */
import { createServer, connect, type Server, type Socket } from "node:net"
import { Hono } from "hono"
import { afterEach, describe, expect, it } from "vitest"
import { inMemoryEnv } from "../../src/server/in-memory.ts"
import {
  addressKey,
  allowOtherUsersFromEnv,
  parseProcNetTcp,
  peerOwner,
  peerUserMode,
  sameUser,
  type PeerOwner,
} from "../../src/server/middleware/same-user.ts"

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
// 127.0.0.1:34910 -> 127.0.0.1:4096 held by uid 1000; the server's own end; a TIME_WAIT row (uid and inode 0).
const TCP_LE =
  HEADER +
  "   0: 0100007F:885E 0100007F:1000 01 00000000:00000000 00:00000000 00000000  1000        0 167448 1 0000000094065b4d 20 4 30 14 -1\n" +
  "   1: 0100007F:1000 0100007F:885E 01 00000000:00000000 00:00000000 00000000     0        0 167449 1 0000000094065b4e 20 4 30 14 -1\n" +
  "   2: 0100007F:885F 0100007F:1000 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n"
// ::1 port 40000 -> ::1 port 4096, uid 1001; ::ffff:127.0.0.1 port 40001 -> ::ffff:127.0.0.1 port 4096, uid 1002.
const TCP6_LE =
  HEADER +
  "   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:1000 01 00000000:00000000 00:00000000 00000000  1001        0 5001 1 0000000000000000 20 4 30 10 -1\n" +
  "   1: 0000000000000000FFFF00000100007F:9C41 0000000000000000FFFF00000100007F:1000 01 00000000:00000000 00:00000000 00000000  1002        0 5002 1 0000000000000000 20 4 30 10 -1\n"

const tables = (tcp: string, tcp6: string) => {
  const reads: string[] = []
  const read = async (file: string) => {
    reads.push(file)
    return file.endsWith("tcp6") ? tcp6 : tcp
  }
  return { read, reads }
}

describe("addressKey", () => {
  it("gives IPv4, v4-mapped IPv6 and every spelling of one IPv6 address one key", () => {
    expect(addressKey("127.0.0.1")).toBe("00000000000000000000ffff7f000001")
    expect(addressKey("::ffff:127.0.0.1")).toBe(addressKey("127.0.0.1"))
    expect(addressKey("::FFFF:7f00:1")).toBe(addressKey("127.0.0.1"))
    expect(addressKey("::1")).toBe("00000000000000000000000000000001")
    expect(addressKey("0:0:0:0:0:0:0:1")).toBe(addressKey("::1"))
    expect(addressKey("fe80::1%lo")).toBe("fe800000000000000000000000000001")
    expect(addressKey("2001:db8::")).toBe("20010db8000000000000000000000000")
    for (const bad of ["", "localhost", "1.2.3", "::1::2", "1:2:3:4:5:6:7:8:9"])
      expect([bad, addressKey(bad)]).toEqual([bad, undefined])
  })
})

describe("parseProcNetTcp", () => {
  it("reads addresses in the machine's byte order, the uid and the inode; skips the header and junk", () => {
    const rows = parseProcNetTcp(TCP_LE + "garbage line\n   9: zz:zz\n", true)
    expect(rows).toEqual([
      {
        local: `${addressKey("127.0.0.1")}:34910`,
        remote: `${addressKey("127.0.0.1")}:4096`,
        uid: 1000,
        inode: 167448,
      },
      { local: `${addressKey("127.0.0.1")}:4096`, remote: `${addressKey("127.0.0.1")}:34910`, uid: 0, inode: 167449 },
      { local: `${addressKey("127.0.0.1")}:34911`, remote: `${addressKey("127.0.0.1")}:4096`, uid: 0, inode: 0 },
    ])
    // A big-endian kernel prints 127.0.0.1 as 7F000001.
    const be = parseProcNetTcp(
      HEADER + "   0: 7F000001:885E 7F000001:1000 01 00000000:00000000 00:00000000 00000000  1000 0 1 1\n",
      false,
    )
    expect(be[0]!.local).toBe(`${addressKey("127.0.0.1")}:34910`)
    expect(parseProcNetTcp(TCP6_LE, true).map((row) => row.local)).toEqual([
      `${addressKey("::1")}:40000`,
      `${addressKey("127.0.0.1")}:40001`,
    ])
  })
})

describe("peerOwner", () => {
  const server = { address: "127.0.0.1", port: 4096 }
  it("finds the peer's end (not ours) and its uid; reads tcp6 only when tcp has no match", async () => {
    const t = tables(TCP_LE, TCP6_LE)
    expect(await peerOwner({ address: "127.0.0.1", port: 34910 }, server, t.read, true)).toEqual({
      kind: "uid",
      uid: 1000,
    })
    expect(t.reads).toEqual(["/proc/net/tcp"])
    expect(await peerOwner({ address: "::1", port: 40000 }, { address: "::1", port: 4096 }, t.read, true)).toEqual({
      kind: "uid",
      uid: 1001,
    })
    // The server on `::` sees a v4-mapped peer; the peer's socket may be in either table.
    expect(
      await peerOwner(
        { address: "::ffff:127.0.0.1", port: 40001 },
        { address: "::ffff:127.0.0.1", port: 4096 },
        t.read,
        true,
      ),
    ).toEqual({ kind: "uid", uid: 1002 })
    expect(
      await peerOwner(
        { address: "::ffff:127.0.0.1", port: 34910 },
        { address: "::ffff:127.0.0.1", port: 4096 },
        t.read,
        true,
      ),
    ).toEqual({ kind: "uid", uid: 1000 })
  })

  it("says unknown for a peer no process holds (its uid column is 0, which must not read as root), absent for none", async () => {
    const t = tables(TCP_LE, TCP6_LE)
    expect(await peerOwner({ address: "127.0.0.1", port: 34911 }, server, t.read, true)).toEqual({ kind: "unknown" })
    expect(await peerOwner({ address: "127.0.0.1", port: 50000 }, server, t.read, true)).toEqual({ kind: "absent" })
    expect(await peerOwner({ address: "10.0.0.5", port: 34910 }, server, t.read, true)).toEqual({ kind: "absent" })
  })
})

describe("peerOwner on this kernel's tables", () => {
  let listener: Server | undefined
  const sockets: Socket[] = []
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy()
    listener?.close()
  })

  it.skipIf(process.platform !== "linux")(
    "finds this process's own client socket over IPv4 and IPv6 (linux only)",
    async () => {
      for (const host of ["127.0.0.1", "::1"]) {
        listener = createServer((socket) => sockets.push(socket))
        await new Promise<void>((resolve) => listener!.listen(0, host, resolve))
        const port = (listener.address() as { port: number }).port
        const client = connect(port, host)
        sockets.push(client)
        await new Promise<void>((resolve) => client.once("connect", resolve))
        const owner = await peerOwner(
          { address: client.localAddress!, port: client.localPort! },
          { address: client.remoteAddress!, port: client.remotePort! },
        )
        expect([host, owner]).toEqual([host, { kind: "uid", uid: process.getuid!() }])
        listener.close()
      }
    },
  )
})

describe("sameUser", () => {
  const socketOf = (remoteAddress: string) => ({
    remoteAddress,
    remotePort: 40000,
    localAddress: "127.0.0.1",
    localPort: 4096,
  })
  const appWith = (answer: () => Promise<PeerOwner>) => {
    let lookups = 0
    let refused = 0
    const app = new Hono()
    app.use(sameUser({ uid: 1000, onRefused: () => refused++, lookup: () => (lookups++, answer()) }))
    app.get("/session", (c) => c.json([]))
    const request = (socket: object | undefined, env: object = {}) =>
      app.request("/session", {}, socket ? { incoming: { socket } } : env)
    return { request, lookups: () => lookups, refused: () => refused }
  }

  it("looks the peer up once per connection, not per request", async () => {
    const app = appWith(async () => ({ kind: "uid", uid: 1000 }))
    const first = socketOf("127.0.0.1")
    for (let i = 0; i < 3; i++) expect((await app.request(first)).status).toBe(200)
    expect(app.lookups()).toBe(1)
    expect((await app.request(socketOf("127.0.0.1"))).status).toBe(200)
    expect(app.lookups()).toBe(2)
  })

  it("refuses another uid, an owner it cannot tell, a failed lookup and a loopback peer found nowhere, with 403 forbidden_user", async () => {
    const cases: [string, () => Promise<PeerOwner>, string][] = [
      ["another uid", async () => ({ kind: "uid", uid: 0 }), "127.0.0.1"],
      ["unknown", async () => ({ kind: "unknown" }), "127.0.0.1"],
      ["lookup failed", async () => Promise.reject(new Error("EACCES")), "127.0.0.1"],
      ["absent, loopback", async () => ({ kind: "absent" }), "::1"],
      ["absent, v4-mapped loopback", async () => ({ kind: "absent" }), "::ffff:127.0.0.2"],
      ["unknown, remote", async () => ({ kind: "unknown" }), "192.0.2.7"],
    ]
    for (const [name, answer, address] of cases) {
      const app = appWith(answer)
      const res = await app.request(socketOf(address))
      expect([name, res.status, ((await res.json()) as { error: { code: string } }).error.code, app.refused()]).toEqual(
        [name, 403, "forbidden_user", 1],
      )
    }
    const closed = appWith(async () => ({ kind: "uid", uid: 1000 }))
    expect(
      (await closed.request({ remoteAddress: undefined, localAddress: "127.0.0.1", localPort: 4096 })).status,
    ).toBe(403)
  })

  it("lets in another machine (found in no table: the token guards it) and the server's own in-memory request", async () => {
    const app = appWith(async () => ({ kind: "absent" }))
    expect((await app.request(socketOf("192.0.2.7"))).status).toBe(200)
    expect((await app.request(undefined, inMemoryEnv())).status).toBe(200)
    expect(app.refused()).toBe(0)
    expect(app.lookups()).toBe(1)
  })

  it("refuses a request with no socket that the server did not make in memory (nothing vouches for its peer)", async () => {
    const app = appWith(async () => ({ kind: "uid", uid: 1000 }))
    for (const env of [{}, { inMemory: true }, { incoming: {} }]) {
      const res = await app.request(undefined, env)
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
        403,
        "forbidden_user",
      ])
    }
    expect([app.refused(), app.lookups()]).toEqual([3, 0])
  })
})

describe("the mode and its opt-out", () => {
  it("OPENCODE_ALLOW_OTHER_USERS is 1 or 0; any other value is an error that does not echo it", () => {
    expect(allowOtherUsersFromEnv({})).toEqual({ ok: true, allow: false })
    expect(allowOtherUsersFromEnv({ OPENCODE_ALLOW_OTHER_USERS: "0" })).toEqual({ ok: true, allow: false })
    expect(allowOtherUsersFromEnv({ OPENCODE_ALLOW_OTHER_USERS: "1" })).toEqual({ ok: true, allow: true })
    const bad = allowOtherUsersFromEnv({ OPENCODE_ALLOW_OTHER_USERS: "yes-please" })
    expect(bad.ok).toBe(false)
    expect(JSON.stringify(bad)).toContain("OPENCODE_ALLOW_OTHER_USERS")
    expect(JSON.stringify(bad)).not.toContain("yes-please")
  })

  it("is same_user on Linux, unavailable elsewhere, and the opt-out wins", () => {
    expect(peerUserMode({ allowOtherUsers: true })).toBe("other_users_allowed")
    expect(peerUserMode({ allowOtherUsers: false }, "darwin")).toBe("unavailable")
    if (process.platform === "linux") expect(peerUserMode({ allowOtherUsers: false })).toBe("same_user")
  })
})
