/**
 * The one place where the spine's internal tokens become words a person reads. Every label the
 * panel, the banner, the waterfall and the event history show for an operation, a hop, a missing
 * field, an origin or a retry basis comes from here, so no `dispose_directory`, `renderer_action`
 * or `interrupt_meta` reaches the screen by accident (a test scans the rendered panel for them).
 */
import type { Classification, HopStatus, LifecycleOperation, MismatchReason, Verdict } from "opencode/provenance"

/**
 * Each operation's one word, as a noun phrase ("a project reload"). A person cannot tell a close
 * asked for by a button from one a config edit or a removed folder caused, so both are a
 * "project close"; who or what started it is said beside it, never by another word.
 */
export const OPERATION_NOUN: Record<LifecycleOperation, string> = {
  reload: "project reload",
  load_reload: "project reload",
  dispose: "project close",
  dispose_directory: "project close",
  dispose_all: "close of every project",
}

/** A row or a step title: "Project reload". */
export function operationTitle(operation: string | undefined): string {
  const noun =
    operation && operation in OPERATION_NOUN ? OPERATION_NOUN[operation as LifecycleOperation] : "lifecycle operation"
  return capitalize(noun)
}

/** What the app's buttons are called, by action name. */
export const ACTION_WORDS: Record<string, string> = {
  "session.create": "New session",
  "session.prompt": "Send",
  "session.abort": "Stop",
  "instance.reload": "Reload project",
  "instance.dispose": "Close project",
  "global.dispose": "Close every project",
  "project.git.init": "Git init",
  "config.save": "Save config",
  "session.export": "Export",
}

export function actionWords(name: string | undefined): string {
  return (name && ACTION_WORDS[name]) ?? "an app button"
}

/** A sentence made of words that may start lowercase ("the project's opencode.json …"). */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The spine's hops, as the step each one records. */
export const HOP_WORDS: Record<string, string> = {
  renderer: "Click in the app",
  request: "Request to the server",
  lifecycle: "Reload or close of the project",
  interrupt: "Stop signal to the run",
  run_summary: "Record of how the run ended",
}

export const HOP_STATUS_WORDS: Record<HopStatus, string> = {
  present: "recorded",
  missing: "missing",
  not_applicable: "not involved",
  remote_reported: "reported by the remote workspace",
  not_recorded_by_writer: "not recorded by the file's writer",
}

/**
 * A missing field, as the fact that is missing. The keys are the names an incident chain gives
 * (`missing`): the hop-level names (`HOP_MISSING_NAME` in the server's `incident-chain.ts`), the
 * origin's fields as `computeProvenance` names them, prefixed `origin.`, and the run summary's own
 * `missing`. A test enumerates them from the server's code, so a new name fails it until worded.
 */
const MISSING_WORDS: Record<string, string> = {
  renderer_action: "which app button was clicked",
  request: "the request that asked for it",
  "origin.request": "the request that asked for it",
  "origin.detected_during": "the request during which the change was noticed",
  "origin.mismatch_reason": "what changed in the project",
  "origin.digest_before": "what the project looked like before the change",
  "origin.digest_after": "what the project looked like after the change",
  "origin.signal": "which signal shut the server down",
  "origin.handler": "which part of the server stopped it",
  "origin.scope": "whether the project's or the global config changed",
  "origin.file_key": "which config file it was",
  "origin.change_kind": "how the config file changed",
  "origin.workspace_id": "which remote workspace",
  "origin.kind": "what kind of cause it was",
  origin: "who or what started it",
  lifecycle_action: "the reload or close that stopped it",
  interrupt_meta: "the stop signal's record",
  run_summary: "the record of how the run ended",
  tool_facts: "which tools had run",
  tool_kinds: "what each tool could change",
  classification: "why the run stopped",
  retry: "whether a retry is safe",
  crash_evidence: "the crash record",
}

export function missingWords(name: string): string {
  return MISSING_WORDS[name] ?? name.replace(/[_.]+/g, " ")
}

/** The evidence badge: how complete the record of the cause is. */
export const EVIDENCE_WORDS: Record<Verdict, string> = {
  diagnosed: "Complete evidence",
  partially_diagnosed: "Incomplete evidence",
  missing_provenance: "No record of the cause",
  crash_evidence: "Crash: cause unknown",
  remote_reported: "Reported by the remote workspace",
}

/**
 * A run row's classification in words (the run picker, the transcript's marker, the history's
 * stop). Read from the row alone, so each must stay true whatever the incident chain finds: the
 * chain may name a cause the row's classification does not (a settle-timeout placeholder, a
 * crash-scan row whose close was journalled).
 */
export const CLASSIFICATION_WORDS: Record<Classification, string> = {
  completed: "finished normally",
  user_cancelled: "stopped by Stop",
  local_instance_reload: `stopped by a ${OPERATION_NOUN.reload}`,
  local_instance_dispose: `stopped by a ${OPERATION_NOUN.dispose}`,
  local_instance_dispose_directory: `stopped by a ${OPERATION_NOUN.dispose_directory}`,
  local_instance_dispose_all: `stopped by a ${OPERATION_NOUN.dispose_all}`,
  provider_error: "ended by a model error",
  tool_error: "ended by a tool error",
  watchdog_timeout: "stopped by the watchdog",
  remote_interrupted: "stopped in the remote workspace",
  process_exit_without_finalizer: "lost when the server stopped",
  // A run row alone: a placeholder written at the settle timeout keeps its cause, so only the incident chain may say none was recorded.
  unknown_interrupt: "stopped, its record incomplete",
}

export function classificationWords(classification: string | undefined): string {
  return (classification && CLASSIFICATION_WORDS[classification as Classification]) ?? "stopped"
}

export const MISMATCH_WORDS: Record<MismatchReason, string> = {
  worktree_mismatch: "the project became (or stopped being) a git repository",
  project_id_mismatch: "the project's identity changed",
  project_row_missing: "the project's record was missing",
  config_digest_mismatch: "the project's opencode.json changed",
  unknown_context_mismatch: "something about the project changed",
}

export const SIGNAL_WORDS: Record<string, string> = {
  SIGTERM: "asked to stop (SIGTERM)",
  SIGINT: "interrupted (Ctrl-C)",
  SIGHUP: "hung up (SIGHUP)",
  uncaught_exception: "hit an unexpected error",
  api: "asked to stop through its API",
  desktop_window_closed: "shut down because its desktop window was closed",
  desktop_window_lost: "shut down because its desktop window's browser ended unexpectedly",
}

/** The server's own handlers that close an instance, as the banner names them. */
export const HANDLER_WORDS: Record<string, string> = {
  watchdog: "the watchdog",
  directory_watch: "the project folder watcher",
}

/**
 * What happened to a config file outside the app (a save through the server is worded by
 * `configChangeClause`). An edit on disk is "edited" whatever the watcher saw: an editor's save
 * replaces the file, which a watcher reports as a creation. A change whose kind was not recorded
 * is only said to have changed.
 */
export function configChangeWords(change: "created" | "modified" | "deleted" | undefined): string {
  if (change === undefined) return "changed"
  return change === "deleted" ? "was deleted" : "was edited"
}

/** The config file an origin names, by its scope: never the salted digest of its path. */
export function configFileWords(scope: string | undefined): string {
  return scope === "global"
    ? "the global config.json"
    : scope === "project"
      ? "the project's opencode.json"
      : "a config file"
}

/** A side-effect kind, as what the tool could do. */
export const KIND_WORDS: Record<string, string> = {
  read: "read files",
  write: "write files",
  exec: "run commands",
  network: "use the network",
}

/** Every internal token that must never reach the screen as-is (tests scan for these). */
export const INTERNAL_TOKENS: readonly string[] = [
  "dispose_directory",
  "dispose_all",
  "load_reload",
  "renderer_action",
  "interrupt_meta",
  "run_summary",
  "lifecycle_action",
  "from a plain client",
  "api_route",
  "config_invalidation",
  "context_mismatch",
  "not_applicable",
  "local_instance_",
  "process_exit_without_finalizer",
]

/** The transcript's inline marker: "Stopped here: project reload". */
export const STOP_MARKER_WORDS: Record<Classification, string> = {
  completed: "finished",
  user_cancelled: "Stop",
  local_instance_reload: OPERATION_NOUN.reload,
  local_instance_dispose: OPERATION_NOUN.dispose,
  local_instance_dispose_directory: OPERATION_NOUN.dispose_directory,
  local_instance_dispose_all: OPERATION_NOUN.dispose_all,
  provider_error: "model error",
  tool_error: "tool error",
  watchdog_timeout: "watchdog",
  remote_interrupted: "remote workspace",
  process_exit_without_finalizer: "server stopped",
  unknown_interrupt: "record incomplete",
}

/**
 * A stopped run's words where its incident chain says more than any classification can: the
 * crash chain (no close was journalled), a chain with no recorded cause, a close the server's
 * shutdown started, and the evidence's incompleteness. `ending` finishes "This run …" (the run
 * history, the run picker); `marker` finishes "Stopped here: …".
 */
export const CHAIN_STOP_WORDS = {
  crash: {
    ending: "lost when the server process ended (crash evidence)",
    marker: "server process ended (crash evidence)",
  },
  unknown: { ending: "stopped; cause unknown", marker: "cause unknown" },
  shutdown: { ending: "because the server shut down", marker: "server shut down" },
  remoteShutdown: {
    ending: "no longer followed in the remote workspace: this server shut down",
    marker: "server shut down",
  },
  partial: "partially diagnosed",
} as const
