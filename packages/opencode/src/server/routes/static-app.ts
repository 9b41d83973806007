/**
 * Serves the built app (packages/app/dist) at `/`. The page gets the default directory, and,
 * when a token is configured, the token for loopback peers only; other clients open the printed
 * URL with `#token=…` (a fragment never reaches the server or its logs).
 */
import { existsSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { serveStatic } from "@hono/node-server/serve-static"
import type { Context } from "hono"
import { Hono } from "hono"

export const APP_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../app/dist")

export function appIsBuilt(dist = APP_DIST): boolean {
  return existsSync(path.join(dist, "index.html"))
}

/** Paths the app itself is served from: public, so the page can load before it has the token. */
export function isAppPath(requestPath: string): boolean {
  return requestPath === "/" || requestPath.startsWith("/assets/") || requestPath === "/favicon.ico" || requestPath.startsWith("/app/")
}

export function staticAppRoutes(options: { defaultDirectory: string; token?: string | undefined; dist?: string }): Hono {
  const dist = options.dist ?? APP_DIST
  const app = new Hono()
  const page = (c: Context) => {
    if (!appIsBuilt(dist)) {
      return c.html("<!doctype html><title>opencode</title><p>The app is not built. Run <code>npm run build</code>, then reload.</p>", 503)
    }
    const html = readFileSync(path.join(dist, "index.html"), "utf8")
    const metas = [`<meta name="opencode-default-directory" content="${escapeAttr(options.defaultDirectory)}">`]
    if (options.token && isLoopbackPeer(c)) metas.push(`<meta name="opencode-token" content="${escapeAttr(options.token)}">`)
    c.header("Cache-Control", "no-store")
    return c.html(html.replace("<head>", `<head>\n    ${metas.join("\n    ")}`))
  }
  app.get("/", page)
  app.get("/app/*", page)
  app.get("/assets/*", serveStatic({ root: path.relative(process.cwd(), dist) || "." }))
  return app
}

function isLoopbackPeer(c: Context): boolean {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
  const address = incoming?.socket?.remoteAddress ?? ""
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.")
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
}
