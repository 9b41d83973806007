/**
 * One session: its messages with parts streaming live from `/event`, the prompt box, Stop, the
 * suspended-run banner and the incident panel.
 */
import { A, Navigate, useNavigate, useParams } from "@solidjs/router"
import { createQuery, useQueryClient } from "@tanstack/solid-query"
import type { IncidentChain } from "opencode/provenance"
import { createEffect, createMemo, createSignal, For, Match, on, onCleanup, Show, Switch } from "solid-js"
import { z } from "zod"
import { useEvents } from "../context/events.tsx"
import { useClientActions } from "../context/client-action.tsx"
import { onServerEvent } from "../context/events.tsx"
import { useProject } from "../context/project.tsx"
import { applyMessageInfo, applyPart, queryKeys } from "../context/queries.ts"
import { ROUTES, runPath, sessionPath } from "../context/routes.ts"
import { plainError } from "../context/server.ts"
import { useServer } from "../context/server-context.tsx"
import {
  IncidentList,
  MessageList,
  type MessageWithParts,
  type Part,
  PromptAnswer,
  type RunRecord,
  RunList,
  Session,
} from "../context/shapes.ts"
import { userMessage } from "../context/user-message.ts"
import { IncidentPanel } from "../diagnostics/incident-panel.tsx"
import { runHistory, stopMarkerWords } from "../diagnostics/run-history.ts"
import { ModalDrawer } from "./modal-drawer.tsx"
import { RunHistory } from "./run-history-list.tsx"
import { SuspendedBanner } from "./suspended-banner.tsx"
import { currentOpener, type Opener, returnFocus } from "./focus-return.ts"
import { stableList } from "../context/stable-list.ts"

const MODELS = ["scripted/quick", "scripted/slow", "scripted/tool-write", "scripted/silent", "scripted/stall"] as const
const OTHER_MODEL = "other"

export function SessionView() {
  const project = useProject()
  const server = useServer()
  const params = useParams<{ id: string }>()
  // A session's link opened in a new tab (a copied run link): the session knows its project.
  // The same query as the page's own (one read of the session, shared).
  const id = () => decodeURIComponent(params.id ?? "")
  const home = createQuery(() => ({
    queryKey: queryKeys.session(id()),
    queryFn: () => server.read(`/session/${encodeURIComponent(id())}`, Session),
    enabled: !!params.id,
  }))
  createEffect(() => {
    const directory = home.data?.directory
    if (directory && directory !== project.directory()) project.select(directory)
  })
  return (
    <Switch>
      <Match when={!project.directory() && (home.isError || !params.id)}>
        <Navigate href={ROUTES.picker} />
      </Match>
      <Match when={project.directory() && (!home.data || home.data.directory === project.directory())}>
        <Show when={params.id} keyed>
          {(id) => <SessionFor id={decodeURIComponent(id)} />}
        </Show>
      </Match>
      <Match when={true}>
        <p class="muted">Opening the session…</p>
      </Match>
    </Switch>
  )
}

function SessionFor(props: { id: string }) {
  const project = useProject()
  const server = useServer()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const params = useParams<{ id: string; runId?: string }>()
  const navigate = useNavigate()
  const id = props.id
  const path = `/session/${encodeURIComponent(id)}`
  const keys = {
    messages: () => queryKeys.messages(project.directory(), id),
    runs: () => queryKeys.runs(project.directory(), id),
    incidents: () => queryKeys.incidents(project.directory(), id),
  }

  const session = createQuery(() => ({ queryKey: queryKeys.session(id), queryFn: () => server.read(path, Session) }))
  // Events are only applied while this page is open: on coming back, read what was missed (a run
  // that ended meanwhile must show its banner, not a cached "running").
  const messages = createQuery(() => ({
    queryKey: keys.messages(),
    queryFn: () => server.read(`${path}/message`, MessageList),
    refetchOnMount: "always" as const,
  }))
  /** The messages by id: an update changes a message's item in place (`stableList`). */
  const transcript = stableList(
    () => messages.data,
    (message) => message.info.id,
  )
  const runs = createQuery(() => ({
    queryKey: keys.runs(),
    queryFn: () => server.read(`${path}/run`, RunList),
    refetchOnMount: "always" as const,
  }))
  /** Chains from `run.finished`, each with when it came: a read of the incidents after it is newer. */
  const [liveIncidents, setLiveIncidents] = createSignal<Record<string, { chain: IncidentChain; at: number }>>({})
  const [busy, setBusy] = createSignal(false)
  const [dismissed, setDismissed] = createSignal<string | undefined>()
  const events = useEvents()

  // The panel is the URL: `/app/session/:id/run/:runId` opens it on that run, so a reload, the
  // back button and a copied link all show the same run's explanation.
  const panelRunId = () => (params.runId ? decodeURIComponent(params.runId) : undefined)
  let opener: Opener | undefined
  let pushedHere = false
  const openPanel = (runId: string) => {
    opener = currentOpener()
    pushedHere = true
    navigate(runPath(id, runId))
  }
  const showRun = (runId: string) => navigate(runPath(id, runId), { replace: true })
  const closePanel = () => {
    // Opened from this page: going back closes it and keeps the history as it was before.
    if (pushedHere) window.history.back()
    else navigate(sessionPath(id))
  }
  createEffect(
    on(panelRunId, (runId, previous) => {
      if (runId !== undefined || previous === undefined) return
      pushedHere = false
      const target = opener
      opener = undefined
      // Back where the user came from (the banner, a marker, the run history), without scrolling;
      // not once this page is gone or another panel opened.
      const timer = setTimeout(
        () => returnFocus(target, () => document.getElementById("run-banner") ?? document.getElementById("main")),
        0,
      )
      onCleanup(() => clearTimeout(timer))
    }),
  )

  const byStart = createMemo<RunRecord[]>(() => [...(runs.data ?? [])].sort((a, b) => a.startedAt - b.startedAt))
  const lastRun = createMemo<RunRecord | undefined>(() => byStart().at(-1))
  const stoppedRun = (run: RunRecord | undefined) => {
    const classification = run?.summary?.classification
    return run && run.status === "finished" && classification && classification !== "completed"
      ? { run, classification }
      : undefined
  }
  /** The banner: the latest run, when it stopped. */
  const interrupted = createMemo(() => stoppedRun(lastRun()))
  /** Every stopped run, by id: each keeps its marker and its explanation, however many runs came after. */
  const stoppedById = createMemo(
    () => new Map(byStart().flatMap((run) => (stoppedRun(run) ? [[run.runId, stoppedRun(run)!] as const] : []))),
  )
  const incidents = createQuery(() => ({
    queryKey: keys.incidents(),
    queryFn: () => server.read(`${path}/incident`, IncidentList),
    enabled: stoppedById().size > 0,
    // Like the runs: on coming back, a run that stopped meanwhile must have its chain, not a cached list without it.
    refetchOnMount: "always" as const,
  }))
  /** A run's chain: the server's read, unless a `run.finished` event brought a newer one since. */
  const incidentFor = (runId: string) => {
    const live = liveIncidents()[runId]
    const read = incidents.data?.find((chain) => chain.runId === runId)
    return live && (!read || live.at > incidents.dataUpdatedAt) ? live.chain : (read ?? live?.chain)
  }
  // Each run's chain as the banner and the marker have it (a `run.finished` newer than the read wins).
  const history = createMemo(() => {
    const list = runs.data ?? []
    return runHistory(
      list,
      list.flatMap((run) => incidentFor(run.runId) ?? []),
      actions.isOwnAction,
    )
  })
  const running = () => busy() || lastRun()?.status === "running"
  const serverDown = () => events.status() === "reconnecting"
  /** Facts from the transcript the export leaves out: the last line of output the user saw, of this run only. */
  const transcriptContext = (runId: string | undefined) => {
    const assistant =
      runId === undefined
        ? undefined
        : (messages.data ?? [])
            .filter((message) => message.info.role === "assistant" && message.info.runId === runId)
            .at(-1)
    const text =
      assistant?.parts.map((part) => (part.type === "text" && "text" in part ? String(part.text) : "")).join("") ?? ""
    const last = text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1)
    const toolPaths: Record<string, string> = {}
    for (const part of assistant?.parts ?? [])
      if (part.type === "tool" && "callID" in part && part.callID && "path" in part && part.path)
        toolPaths[part.callID] = part.path
    // Whole: `safeOutputLine` scrubs before it cuts, so a secret is never cut into a prefix no rule knows.
    return { toolPaths, ...(last ? { lastOutput: last } : {}) }
  }
  const sendPrompt = async (text: string, model: string, resendOf?: string) => {
    // This session's messages, in the project it was sent in, whatever the page shows by the time the answer comes.
    const messagesKey = keys.messages()
    await actions.runAction("session.prompt", (api) =>
      api.post(`${path}/prompt`, { text, model, ...(resendOf ? { resendOf } : {}) }, PromptAnswer),
    )
    void queryClient.invalidateQueries({ queryKey: messagesKey })
  }
  /**
   * Resends a stopped run's prompt from its panel, then closes the panel. `panelOpen` is that
   * panel's own: a late answer closes nothing once the panel closed, showed another run, or the
   * user left this session (closing would go back or navigate, away from where they are now).
   */
  const resend = async (runId: string, panelOpen: () => boolean) => {
    const run = (runs.data ?? []).find((item) => item.runId === runId)
    const prompt = userMessage(messages.data ?? [], runId)
    if (!prompt || !run?.model) throw new Error("the prompt of this run is not in the transcript")
    await sendPrompt(prompt, run.model, runId)
    if (panelOpen()) closePanel()
  }

  /**
   * Reads a list again, from now. An invalidation alone joins a first read still on its way, whose
   * answer may predate what the event says changed (a run that stopped during a gap); that read is
   * dropped instead, and a list already shown stays shown until the new answer.
   */
  const reread = (queryKey: readonly unknown[]) =>
    void queryClient.cancelQueries({ queryKey }).then(() => queryClient.invalidateQueries({ queryKey }))

  onServerEvent((event) => {
    switch (event.type) {
      case "session.updated":
        // The first prompt names the session.
        if (event.properties.info.id === id) queryClient.setQueryData(queryKeys.session(id), event.properties.info)
        break
      case "message.part.updated":
        if (event.properties.part.sessionID === id)
          queryClient.setQueryData(keys.messages(), (list: MessageWithParts[] | undefined) =>
            applyPart(list, event.properties.part, event.properties.delta),
          )
        break
      case "message.updated":
        if (event.properties.info.sessionID === id)
          queryClient.setQueryData(keys.messages(), (list: MessageWithParts[] | undefined) =>
            applyMessageInfo(list, event.properties.info),
          )
        break
      case "session.status":
        if (event.properties.sessionID === id) setBusy(event.properties.status.type === "busy")
        break
      case "session.idle":
        if (event.properties.sessionID === id) setBusy(false)
        break
      case "run.started":
        if (event.properties.sessionID === id) {
          setBusy(true)
          // The banner spoke of the previous run; an open panel is one run's and stays.
          setDismissed(undefined)
          const { runId, model, startedAt, resendOf } = event.properties
          queryClient.setQueryData(keys.runs(), (list: RunRecord[] | undefined) =>
            (list ?? []).some((run) => run.runId === runId)
              ? list
              : [
                  ...(list ?? []),
                  {
                    runId,
                    sessionId: id,
                    model,
                    status: "running" as const,
                    startedAt,
                    ...(resendOf ? { resendOf } : {}),
                  },
                ],
          )
          void queryClient.invalidateQueries({ queryKey: keys.runs() })
        }
        break
      case "run.finished": {
        const { summary, incident } = event.properties
        if (summary.sessionId !== id) break
        setBusy(false)
        if (incident) setLiveIncidents((all) => ({ ...all, [summary.runId]: { chain: incident, at: Date.now() } }))
        queryClient.setQueryData(keys.runs(), (list: RunRecord[] | undefined) => {
          const next = [...(list ?? [])]
          const index = next.findIndex((run) => run.runId === summary.runId)
          const record: RunRecord = {
            runId: summary.runId,
            sessionId: summary.sessionId,
            model: summary.model,
            status: "finished",
            startedAt: summary.startedAt,
            summary,
            ...(summary.resendOf ? { resendOf: summary.resendOf } : {}),
          }
          if (index < 0) next.push(record)
          else next[index] = { ...next[index]!, status: "finished", summary }
          return next
        })
        void queryClient.invalidateQueries({ queryKey: keys.runs() })
        reread(keys.incidents())
        void queryClient.invalidateQueries({ queryKey: keys.messages() })
        break
      }
      case "server.replay_gap":
      case "server.instance.disposed":
        // Events were lost (a restart, a crash) or the instance is gone: "busy" may never be
        // cleared by an event now; the runs read below says whether a run is still going. A run
        // that stopped meanwhile came with no `run.finished`: its chain (the banner's, the run
        // history's) is only in the incidents read again.
        setBusy(false)
        reread(keys.messages())
        reread(keys.runs())
        reread(keys.incidents())
        break
    }
  })

  return (
    <div class="stack">
      <nav class="crumbs" aria-label="Breadcrumb">
        <A href={ROUTES.sessions}>Sessions</A> <span aria-hidden="true">/</span>{" "}
        <span>{session.data?.title || id}</span>
      </nav>

      <Show when={interrupted() && dismissed() !== interrupted()!.run.runId ? interrupted() : undefined}>
        {(stopped) => (
          <SuspendedBanner
            classification={stopped().classification}
            summary={stopped().run.summary}
            incident={incidentFor(stopped().run.runId)}
            isOwnAction={actions.isOwnAction}
            onExplain={() => openPanel(stopped().run.runId)}
            onDismiss={() => {
              setDismissed(stopped().run.runId)
              // The button is gone with the banner: focus goes back to the top of the page, not to <body>.
              document.getElementById("main")?.focus()
            }}
          />
        )}
      </Show>
      <Show when={panelRunId()} keyed>
        {(runId) => {
          // This panel, on this run: gone when it closes, shows another run, or the page goes.
          let open = true
          onCleanup(() => (open = false))
          return (
            <ModalDrawer onClose={closePanel}>
              <IncidentPanel
                sessionId={id}
                runId={runId}
                runs={runs.data ?? []}
                running={(runs.data ?? []).find((run) => run.runId === runId)?.status === "running"}
                onClose={closePanel}
                onResend={(other) => resend(other, () => open)}
                onSelectRun={showRun}
                onOpenRun={(other) => navigate(runPath(id, other))}
                linkFor={(other) => new URL(runPath(id, other), window.location.origin).href}
                context={transcriptContext(runId)}
              />
            </ModalDrawer>
          )
        }}
      </Show>

      <Show when={history().length > 1 || stoppedById().size > 0}>
        <RunHistory rows={history()} sessionId={id} onOpen={openPanel} />
      </Show>

      <section class="card messages" aria-label="Messages" aria-busy={running() ? "true" : "false"}>
        {/* A failed refresh keeps the transcript already shown; only a first read that failed has nothing to show. */}
        <Show when={messages.isError && messages.data}>
          <p class="muted small" role="status" data-testid="messages-stale">
            These messages are as last loaded: they could not be read again ({plainError(messages.error)}).
          </p>
        </Show>
        <Switch>
          <Match when={messages.isError && !messages.data}>
            <p class="error" role="alert">
              Messages could not be loaded: {(messages.error as Error | null)?.message}
            </p>
          </Match>
          <Match when={messages.isPending}>
            <p class="muted">Loading…</p>
          </Match>
          <Match when={(messages.data ?? []).length === 0}>
            <p class="muted">No messages yet. Send a prompt below.</p>
          </Match>
          <Match when={true}>
            <ol class="message-list" data-testid="message-list">
              <For each={transcript()}>
                {(message) => (
                  <li
                    class={`message message-${message.info.role}`}
                    data-testid="message"
                    data-role={message.info.role}
                  >
                    <div class="message-role">
                      {message.info.role === "user"
                        ? "You"
                        : `Assistant${message.info.modelID ? ` · ${message.info.providerID ? `${message.info.providerID}/` : ""}${message.info.modelID}` : ""}`}
                    </div>
                    <For each={message.parts}>{(part) => <PartView part={part} />}</For>
                    <Show
                      when={
                        message.info.role === "assistant" && message.info.runId
                          ? stoppedById().get(message.info.runId)
                          : undefined
                      }
                    >
                      {(stopped) => (
                        <p class="stop-marker" data-testid="stop-marker" data-run-id={stopped().run.runId}>
                          <button
                            type="button"
                            class="link"
                            aria-haspopup="dialog"
                            onClick={() => openPanel(stopped().run.runId)}
                          >
                            Stopped here:{" "}
                            {stopMarkerWords(
                              stopped().classification,
                              incidentFor(stopped().run.runId),
                              stopped().run.summary,
                            )}
                          </button>
                        </p>
                      )}
                    </Show>
                  </li>
                )}
              </For>
            </ol>
          </Match>
        </Switch>
      </section>

      <PromptBox sessionPath={path} running={running()} serverDown={serverDown()} send={sendPrompt} />
    </div>
  )
}

function PartView(props: { part: Part }) {
  return (
    <Switch fallback={<div class="part part-other muted small">[{props.part.type}]</div>}>
      <Match when={props.part.type === "text" && "text" in props.part ? (props.part as { text: string }) : undefined}>
        {(text) => (
          <div class="part part-text" data-testid="part-text">
            {text().text}
          </div>
        )}
      </Match>
      <Match
        when={
          props.part.type === "tool" && "tool" in props.part
            ? (props.part as { tool: string; state?: { status: string } })
            : undefined
        }
      >
        {(tool) => (
          <div class="part part-tool" data-testid="part-tool">
            tool <code>{tool().tool}</code>
            <Show when={(tool() as { path?: string }).path}>
              {(where) => (
                <>
                  {" "}
                  <code data-testid="part-tool-path">{where()}</code>
                </>
              )}
            </Show>{" "}
            — {tool().state?.status ?? "started"}
          </div>
        )}
      </Match>
    </Switch>
  )
}

/** Where the prompt box keeps the model chosen last, for every session of this app (its origin). */
const MODEL_STORAGE_KEY = "opencode.prompt.model"

const StoredModel = z.object({ choice: z.enum([...MODELS, OTHER_MODEL]), custom: z.string().max(128) })

/** The model chosen last, if one was kept and still reads as one (storage can be off or edited). */
function storedModel(): z.infer<typeof StoredModel> | undefined {
  try {
    const parsed = StoredModel.safeParse(JSON.parse(localStorage.getItem(MODEL_STORAGE_KEY) ?? "null"))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

export function PromptBox(props: {
  sessionPath: string
  running: boolean
  serverDown: boolean
  send: (text: string, model: string) => Promise<void>
}) {
  const actions = useClientActions()
  const [text, setText] = createSignal("")
  const kept = storedModel()
  const [choice, setChoice] = createSignal<string>(kept?.choice ?? MODELS[0])
  const [custom, setCustom] = createSignal(kept?.custom ?? "openai/")
  // The choice outlives the page: a reload or another session starts with the model picked last.
  createEffect(
    on(
      [choice, custom],
      ([picked, typed]) => {
        try {
          localStorage.setItem(MODEL_STORAGE_KEY, JSON.stringify({ choice: picked, custom: typed }))
        } catch {
          // Storage off (a private window's quota): the choice lasts as long as the page.
        }
      },
      { defer: true },
    ),
  )
  const [error, setError] = createSignal("")
  const [sending, setSending] = createSignal(false)
  const [stopping, setStopping] = createSignal(false)
  const model = () => (choice() === OTHER_MODEL ? custom().trim() : choice())
  // A failure shown before the server went away is stale once it answers again.
  createEffect(
    on(
      () => props.serverDown,
      (down, wasDown) => {
        if (wasDown && !down) setError("")
      },
      { defer: true },
    ),
  )

  const send = async () => {
    // The keyboard's send obeys what the button shows: nothing while a run, a send or the server is away.
    if (sending() || props.running || props.serverDown) return
    const prompt = text()
    if (!prompt.trim()) return setError("Write a prompt first.")
    if (!model().includes("/")) return setError("A model is written provider/model, e.g. openai/gpt-4o-mini.")
    setError("")
    setSending(true)
    try {
      await props.send(prompt, model())
      // Cleared only if it is still the text sent: what was typed meanwhile is the next prompt.
      if (text() === prompt) setText("")
    } catch (err) {
      setError(`Send failed: ${plainError(err)}`)
    } finally {
      setSending(false)
    }
  }
  const stop = async () => {
    setStopping(true)
    try {
      await actions.runAction("session.abort", (api) => api.post(`${props.sessionPath}/abort`))
    } catch (err) {
      setError(`Stop failed: ${plainError(err)}`)
    } finally {
      setStopping(false)
    }
  }

  return (
    <form
      class="card prompt"
      aria-label="Prompt"
      onSubmit={(event) => {
        event.preventDefault()
        void send()
      }}
    >
      <label class="field" for="prompt-text">
        <span>Prompt</span>
        <textarea
          id="prompt-text"
          data-testid="prompt-textarea"
          rows={3}
          value={text()}
          onInput={(event) => setText(event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) {
              event.preventDefault()
              void send()
            }
          }}
        />
      </label>
      <div class="row">
        <label class="field inline" for="model-select">
          <span>Model</span>
          <select
            id="model-select"
            data-testid="model-select"
            value={choice()}
            onChange={(event) => setChoice(event.currentTarget.value)}
          >
            <For each={MODELS}>{(name) => <option value={name}>{name}</option>}</For>
            <option value={OTHER_MODEL}>Other (provider/model)…</option>
          </select>
        </label>
        <Show when={choice() === OTHER_MODEL}>
          <label class="field inline" for="model-custom">
            <span>Model id</span>
            <input
              id="model-custom"
              data-testid="model-custom-input"
              type="text"
              spellcheck={false}
              value={custom()}
              onInput={(event) => setCustom(event.currentTarget.value)}
            />
          </label>
        </Show>
        <span class="spacer" />
        <button
          type="button"
          data-testid="stop-button"
          class="danger"
          disabled={stopping() || !props.running || props.serverDown}
          onClick={() => void stop()}
        >
          Stop
        </button>
        <button type="submit" data-testid="send-button" disabled={sending() || props.running || props.serverDown}>
          Send
        </button>
      </div>
      <p class="muted small" role="status" data-testid="run-state">
        {props.serverDown
          ? "The server is not answering; Send and Stop wait until it is back."
          : props.running
            ? "A run is in progress."
            : ""}
      </p>
      <Show when={error()}>
        <p class="error" role="alert">
          {error()}
        </p>
      </Show>
    </form>
  )
}
