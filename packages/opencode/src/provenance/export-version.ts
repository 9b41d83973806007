/** The session export's identity: the schema name and the newest version this code writes and fully reads. */
export const EXPORT_SCHEMA = "opencode.session-export"
export const SUPPORTED_EXPORT_VERSION = 2
