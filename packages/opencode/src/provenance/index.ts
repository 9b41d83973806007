/**
 * The browser-safe entry the app imports: the spine's schemas, the wire's shapes and events,
 * the one completeness function, classification, retry safety, incident-chain derivation and
 * the export reader. Pure TypeScript with no Node import, shared by the server, the CLI and the
 * app; the Node helpers (salted digests, the record format, export files as bytes) are
 * `./node/index.ts`.
 */
export * from "./schemas.ts"
export * from "./wire.ts"
export { SECRET_KEY_NAME, SECRET_KEY_WORDS } from "./secret-names.ts"
export { cutText } from "./plain-text.ts"
export { unique } from "./unique.ts"
export { latestResends, type ResendLinked } from "./resend-links.ts"
export {
  computeProvenance,
  configWrittenByRoute,
  DEFAULT_UNKNOWN_MISSING,
  hopPlan,
  originRequest,
  withProvenance,
  type HopPlan,
  type HopRequirement,
  type ProvenanceContext,
  type StopCause,
} from "./completeness.ts"
export {
  classificationForOperation,
  classifyInterrupt,
  interruptMetaFromReason,
  isInterrupted,
  rootOperationForClassification,
  type RunOutcome,
} from "./classification.ts"
export { PAGE_TEMPLATES, UNKNOWN_PAGE } from "./foreign-text.ts"
export { deriveRetry, type RetryFacts, type RetryToolFact } from "./retry.ts"
export {
  deriveIncidentChains,
  FIRST_WRITER_VERSION_WITH_ORIGINS,
  missingFieldName,
  NOT_RECORDED_ORIGIN,
  recheckChain,
  stopCauseForClassification,
  verdictFor,
  type IncidentInput,
  type IncidentLink,
} from "./incident-chain.ts"
export {
  EXPORT_SCHEMA,
  MAX_RECORDS_PER_LIST,
  readExport,
  SUPPORTED_EXPORT_VERSION,
  UNRECORDED_SESSION_ID,
  type ExportFormat,
  type ReadFailure,
  type ReadResult,
  type ReadSuccess,
  type StoppedMessage,
} from "./export-reader.ts"
export { explainText, originWords, shutdownWords } from "./explain.ts"
export {
  DirectoryDigest,
  ExportMessage,
  SESSION_EXPORT_SCHEMA_ID,
  SessionExportDocument,
  sessionExportJsonSchema,
  TruncationCount,
} from "./export-document.ts"
export {
  formatTraceparent,
  isSpanId,
  isTraceId,
  newSpanId,
  newTraceId,
  parseTraceparent,
  type TraceContext,
} from "./trace-context.ts"
