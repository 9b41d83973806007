/**
 * The browser-safe entry the app imports: the spine's schemas, the wire's shapes and events,
 * origin provenance, classification, incident-chain derivation and the export reader and its
 * words. Pure TypeScript with no Node import, shared by the server, the CLI and the
 * app; the Node helpers (salted digests, the record format, export files as bytes) are
 * `./node/index.ts`.
 */
export * from "./schemas.ts"
export * from "./wire.ts"
export { cutText } from "./plain-text.ts"
export { ABSOLUTE_PATH, applyRules, scrubSecrets, TOKEN_RULES } from "./secret-rules.ts"
export { unique } from "./unique.ts"
export { latestResends } from "./resend-links.ts"
export { withProvenance } from "./completeness.ts"
export { rootOperationForClassification } from "./classification.ts"
export { PAGE_TEMPLATES, UNKNOWN_PAGE } from "./foreign-text.ts"
export { deriveIncidentChains, summaryOnlyChain } from "./incident-chain.ts"
export { readExport, type ReadResult, type ReadSuccess } from "./export-reader.ts"
export { SUPPORTED_EXPORT_VERSION } from "./export-version.ts"
export { explainText, readsEveryRun, shutdownWords } from "./explain.ts"
export { SESSION_EXPORT_SCHEMA_ID, SessionExportDocument, sessionExportJsonSchema } from "./export-document.ts"
export { formatTraceparent, newSpanId, newTraceId } from "./trace-context.ts"
