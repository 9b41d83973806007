/**
 * `POST /diagnostics/renderer`: the renderer's action log. Each record is parsed through the
 * `ClientAction` allow-list (unknown fields are dropped, malformed records and key-shaped
 * names rejected and counted); nothing else from the body is kept. These are client-reported display facts: they
 * never change a classification or a retry verdict.
 */
import { Hono } from "hono"
import { z } from "zod"
import type { Host } from "../../host.ts"
import { codeToken, pageTemplate } from "../../provenance/foreign-text.ts"
import { ClientAction } from "../../provenance/schemas.ts"
import { parseJsonBody } from "../errors.ts"

const MAX_BATCH = 500
const Batch = z.object({ actions: z.array(z.unknown()).max(MAX_BATCH) })

export function diagnosticsRoutes(host: Host): Hono {
  const app = new Hono()
  app.post("/diagnostics/renderer", async (c) => {
    const { actions } = await parseJsonBody(c, Batch)
    let accepted = 0
    let rejected = 0
    for (const raw of actions) {
      const parsed = ClientAction.safeParse(raw)
      // A name is the app's own dotted word (`instance.reload`): a key-shaped one is not kept.
      if (!parsed.success || codeToken(parsed.data.name) === undefined) {
        rejected++
        continue
      }
      host.journal.append("renderer", {}, { ...parsed.data, page: pageTemplate(parsed.data.page) })
      accepted++
    }
    return c.json({ accepted, rejected })
  })
  return app
}
