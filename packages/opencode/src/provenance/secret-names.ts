/**
 * The one list of words that make a key's value secret (`api_key`, `Authorization`,
 * `db_password`, `session_cookie`): every scrubber (the export's redactor, the log scrubber,
 * the provider's error excerpt) keeps such a key and replaces its value.
 */
export const SECRET_KEY_WORDS =
  "password|passwd|secret|token|bearer|auth|credential|api[_-]?key|apikey|private[_-]?key|cookie"
