/**
 * Serves the built app (packages/app/dist) at `/`, with the default directory in a meta tag.
 * When a token is configured, the auth middleware answers a page request without it with the
 * login page (routes/login.ts) before this runs, so the page and its assets are only served to
 * a browser holding the session cookie. The token itself is never in the page.
 */
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { serveStatic } from "@hono/node-server/serve-static"
import type { Context } from "hono"
import { Hono } from "hono"
import { readRegularFile } from "../../regular-file.ts"

const APP_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../app/dist")

export function appIsBuilt(dist = APP_DIST): boolean {
  return existsSync(path.join(dist, "index.html"))
}

/** The app's pages (a browser navigates to them): without the token they get the login page. */
export function isAppPath(requestPath: string): boolean {
  return requestPath === "/" || requestPath.startsWith("/app/")
}

export function staticAppRoutes(options: { defaultDirectory: string; dist?: string }): Hono {
  const dist = options.dist ?? APP_DIST
  const app = new Hono()
  const page = async (c: Context) => {
    if (!appIsBuilt(dist)) {
      return c.html(
        "<!doctype html><title>opencode</title><p>The app is not built. Run <code>npm run build</code>, then reload.</p>",
        503,
      )
    }
    const html = (
      await readRegularFile(path.join(dist, "index.html"), { maxBytes: 4 * 1024 * 1024, label: "index.html" })
    ).toString("utf8")
    const metas = [`<meta name="opencode-default-directory" content="${escapeAttr(options.defaultDirectory)}">`]
    c.header("Cache-Control", "no-store")
    return c.html(html.replace("<head>", `<head>\n    ${metas.join("\n    ")}`))
  }
  app.get("/", page)
  app.get("/app/*", page)
  app.get("/assets/*", serveStatic({ root: path.relative(process.cwd(), dist) || "." }))
  return app
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
}
