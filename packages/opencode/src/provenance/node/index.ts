/**
 * The causal spine's Node helpers: what needs `node:crypto` or `Buffer` (salted digests, the
 * record format, export files as bytes). The browser-safe core is `../index.ts`; nothing there
 * imports from here.
 */
export { createRedactor, type Redactor } from "./redaction.ts"
export { recordFormat } from "./record-format.ts"
