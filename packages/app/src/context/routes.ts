/**
 * The app's routes. Pages other than the picker live under `/app/`, which the server answers
 * with the page (its `/session/...` paths are API routes, so a reload there must not hit them).
 *
 * Action records name the page by its template without that prefix (`/session/:id`), never by
 * the real URL, which can carry session ids, titles or paths.
 */
import { PAGE_TEMPLATES, UNKNOWN_PAGE } from "opencode/provenance"

const APP_PREFIX = "/app"

export const ROUTES = {
  picker: "/",
  sessions: `${APP_PREFIX}/sessions`,
  session: `${APP_PREFIX}/session/:id`,
  /** One run's explanation: the session with the incident panel open on that run. */
  run: `${APP_PREFIX}/session/:id/run/:runId`,
} as const

/** The run route below the session's, as the router nests it. */
export const RUN_SUBPATH = "/run/:runId"

/** The templates recorded in action records: the spine's list, which a reader of another writer's records also checks pages against. */
const TEMPLATES: readonly string[] = PAGE_TEMPLATES

/** @example sessionPath("ses_1") // "/app/session/ses_1" */
export function sessionPath(id: string): string {
  return ROUTES.session.replace(":id", encodeURIComponent(id))
}

/** @example runPath("ses_1", "run_2") // "/app/session/ses_1/run/run_2" */
export function runPath(sessionId: string, runId: string): string {
  return ROUTES.run.replace(":id", encodeURIComponent(sessionId)).replace(":runId", encodeURIComponent(runId))
}

/**
 * @example pageTemplate("/app/session/ses_abc") // "/session/:id"
 */
export function pageTemplate(pathname: string): string {
  const local =
    pathname === APP_PREFIX || pathname.startsWith(`${APP_PREFIX}/`)
      ? pathname.slice(APP_PREFIX.length) || "/"
      : pathname
  const segments = local.split("/").filter(Boolean)
  for (const template of TEMPLATES) {
    const parts = template.split("/").filter(Boolean)
    if (parts.length !== segments.length) continue
    if (parts.every((part, i) => part.startsWith(":") || part === segments[i])) return template
  }
  return UNKNOWN_PAGE
}
