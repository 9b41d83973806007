/**
 * The page allows no eval (`script-src 'self'`). zod compiles object parsers with `new Function`
 * when it may, and its probe for that is reported as a policy violation; it is switched off
 * before any schema is built, which is why this is the entry's first import.
 */
import { z } from "zod"

z.config({ jitless: true })
