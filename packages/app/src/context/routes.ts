/**
 * The app's route templates. Action records name the page by its template (`/session/:id`),
 * never by the real URL, which can carry session ids, titles or paths.
 */
export const ROUTES = {
  picker: "/",
  sessions: "/sessions",
  session: "/session/:id",
} as const

const TEMPLATES: readonly string[] = Object.values(ROUTES)

/**
 * @example pageTemplate("/session/ses_abc") // "/session/:id"
 */
export function pageTemplate(pathname: string): string {
  const segments = pathname.split("/").filter(Boolean)
  for (const template of TEMPLATES) {
    const parts = template.split("/").filter(Boolean)
    if (parts.length !== segments.length) continue
    if (parts.every((part, i) => part.startsWith(":") || part === segments[i])) return template
  }
  return "/unknown"
}
