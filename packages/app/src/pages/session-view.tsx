/**
 * One session: its messages with parts streaming live from `/event`, the prompt box, Stop, the
 * suspended-run banner and the incident panel.
 */
import { A, Navigate, useParams } from "@solidjs/router"
import { createQuery, useQueryClient } from "@tanstack/solid-query"
import { cutText, type IncidentChain } from "opencode/provenance"
import { createMemo, createSignal, For, Match, Show, Switch } from "solid-js"
import { STOP_MARKER_WORDS } from "../diagnostics/glossary.ts"
import { useEvents } from "../context/events.tsx"
import { useClientActions } from "../context/client-action.tsx"
import { onServerEvent } from "../context/events.tsx"
import { useProject } from "../context/project.tsx"
import { applyMessageInfo, applyPart, queryKeys } from "../context/queries.ts"
import { ROUTES } from "../context/routes.ts"
import { plainError } from "../context/server.ts"
import { useServer } from "../context/server-context.tsx"
import { IncidentList, MessageList, type MessageWithParts, type Part, PromptAnswer, type RunRecord, RunList, Session } from "../context/shapes.ts"
import { userMessage } from "../context/user-message.ts"
import { IncidentPanel } from "../diagnostics/incident-panel.tsx"
import { SuspendedBanner } from "./suspended-banner.tsx"

export const MODELS = ["scripted/quick", "scripted/slow", "scripted/tool-write", "scripted/silent", "scripted/stall"] as const
const OTHER_MODEL = "other"

export function SessionView() {
  const project = useProject()
  const params = useParams<{ id: string }>()
  return (
    <Show when={project.directory()} fallback={<Navigate href={ROUTES.picker} />}>
      <Show when={params.id} keyed>
        {(id) => <SessionFor id={decodeURIComponent(id)} />}
      </Show>
    </Show>
  )
}

function SessionFor(props: { id: string }) {
  const project = useProject()
  const server = useServer()
  const actions = useClientActions()
  const queryClient = useQueryClient()
  const id = props.id
  const path = `/session/${encodeURIComponent(id)}`
  const keys = {
    messages: () => queryKeys.messages(project.directory(), id),
    runs: () => queryKeys.runs(project.directory(), id),
    incidents: () => queryKeys.incidents(project.directory(), id),
  }

  const session = createQuery(() => ({ queryKey: ["session", project.directory() ?? "", id], queryFn: () => server.read(path, Session) }))
  // Events are only applied while this page is open: on coming back, read what was missed (a run
  // that ended meanwhile must show its banner, not a cached "running").
  const messages = createQuery(() => ({ queryKey: keys.messages(), queryFn: () => server.read(`${path}/message`, MessageList), refetchOnMount: "always" as const }))
  const runs = createQuery(() => ({ queryKey: keys.runs(), queryFn: () => server.read(`${path}/run`, RunList), refetchOnMount: "always" as const }))
  const [liveIncidents, setLiveIncidents] = createSignal<Record<string, IncidentChain>>({})
  const [busy, setBusy] = createSignal(false)
  const [panelOpen, setPanelOpen] = createSignal(false)
  const [dismissed, setDismissed] = createSignal<string | undefined>()
  let bannerButton: HTMLButtonElement | undefined
  const closePanel = () => {
    setPanelOpen(false)
    // Back where the user came from: the banner's button (or the banner, when it was dismissed).
    queueMicrotask(() => (bannerButton?.isConnected ? bannerButton.focus() : document.getElementById("run-banner")?.focus()))
  }
  const events = useEvents()

  const lastRun = createMemo<RunRecord | undefined>(() => [...(runs.data ?? [])].sort((a, b) => a.startedAt - b.startedAt).at(-1))
  const interrupted = createMemo(() => {
    const run = lastRun()
    const classification = run?.summary?.classification
    return run && run.status === "finished" && classification && classification !== "completed" ? { run, classification } : undefined
  })
  const incidents = createQuery(() => ({
    queryKey: keys.incidents(),
    queryFn: () => server.read(`${path}/incident`, IncidentList),
    enabled: interrupted() !== undefined,
  }))
  const incidentFor = (runId: string) => liveIncidents()[runId] ?? incidents.data?.find((chain) => chain.runId === runId)
  const running = () => busy() || lastRun()?.status === "running"
  const serverDown = () => events.status() === "reconnecting"
  /** Facts from the transcript the export leaves out: the last line of output the user saw. */
  const transcriptContext = (runId: string | undefined) => {
    const assistant = (messages.data ?? []).filter((message) => message.info.role === "assistant" && message.info.runId === runId).at(-1)
    const text = assistant?.parts.map((part) => (part.type === "text" && "text" in part ? String(part.text) : "")).join("") ?? ""
    const last = text.split("\n").map((line) => line.trim()).filter(Boolean).at(-1)
    const toolPaths: Record<string, string> = {}
    for (const part of assistant?.parts ?? []) if (part.type === "tool" && "callID" in part && part.callID && "path" in part && part.path) toolPaths[part.callID] = part.path
    return { toolPaths, ...(last ? { lastOutput: cutText(last, 80) } : {}) }
  }
  const sendPrompt = async (text: string, model: string) => {
    await actions.runAction("session.prompt", (api) => api.post(`${path}/prompt`, { text, model }, PromptAnswer))
    void queryClient.invalidateQueries({ queryKey: keys.messages() })
  }
  const resend = async (runId: string) => {
    const run = (runs.data ?? []).find((item) => item.runId === runId)
    const prompt = userMessage(messages.data ?? [], runId)
    if (!prompt || !run?.model) throw new Error("the prompt of this run is not in the transcript")
    setPanelOpen(false)
    await sendPrompt(prompt, run.model)
  }

  onServerEvent((event) => {
    switch (event.type) {
      case "session.updated":
        // The first prompt names the session.
        if (event.properties.info.id === id) queryClient.setQueryData(["session", project.directory() ?? "", id], event.properties.info)
        break
      case "message.part.updated":
        if (event.properties.part.sessionID === id) queryClient.setQueryData(keys.messages(), (list: MessageWithParts[] | undefined) => applyPart(list, event.properties.part, event.properties.delta))
        break
      case "message.updated":
        if (event.properties.info.sessionID === id) queryClient.setQueryData(keys.messages(), (list: MessageWithParts[] | undefined) => applyMessageInfo(list, event.properties.info))
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
          // The panel explained the previous run: a new run makes it stale.
          setPanelOpen(false)
          setDismissed(undefined)
          void queryClient.invalidateQueries({ queryKey: keys.runs() })
        }
        break
      case "run.finished": {
        const { summary, incident } = event.properties
        if (summary.sessionId !== id) break
        setBusy(false)
        if (incident) setLiveIncidents((all) => ({ ...all, [summary.runId]: incident }))
        queryClient.setQueryData(keys.runs(), (list: RunRecord[] | undefined) => {
          const next = [...(list ?? [])]
          const index = next.findIndex((run) => run.runId === summary.runId)
          const record: RunRecord = { runId: summary.runId, sessionId: summary.sessionId, model: summary.model, status: "finished", startedAt: summary.startedAt, summary }
          if (index < 0) next.push(record)
          else next[index] = { ...next[index]!, status: "finished", summary }
          return next
        })
        void queryClient.invalidateQueries({ queryKey: keys.runs() })
        void queryClient.invalidateQueries({ queryKey: keys.incidents() })
        void queryClient.invalidateQueries({ queryKey: keys.messages() })
        break
      }
      case "server.replay_gap":
      case "server.instance.disposed":
        // Events were lost (a restart, a crash) or the instance is gone: "busy" may never be
        // cleared by an event now; the runs read below says whether a run is still going.
        setBusy(false)
        void queryClient.invalidateQueries({ queryKey: keys.messages() })
        void queryClient.invalidateQueries({ queryKey: keys.runs() })
        break
    }
  })

  return (
    <div class="stack">
      <nav class="crumbs" aria-label="Breadcrumb">
        <A href={ROUTES.sessions}>Sessions</A> <span aria-hidden="true">/</span> <span>{session.data?.title || id}</span>
      </nav>

      <Show when={interrupted() && dismissed() !== interrupted()!.run.runId ? interrupted() : undefined}>
        {(stopped) => (
          <SuspendedBanner
            classification={stopped().classification}
            summary={stopped().run.summary}
            incident={incidentFor(stopped().run.runId)}
            isOwnAction={actions.isOwnAction}
            onExplain={() => setPanelOpen(true)}
            onDismiss={() => {
              setDismissed(stopped().run.runId)
              // The button is gone with the banner: focus goes back to the top of the page, not to <body>.
              document.getElementById("main")?.focus()
            }}
            buttonRef={(element) => (bannerButton = element)}
          />
        )}
      </Show>
      <Show when={panelOpen()}>
        <div class="drawer-scrim" aria-hidden="true" onClick={closePanel} />
        <IncidentPanel sessionId={id} runId={interrupted()?.run.runId} onClose={closePanel} onResend={resend} context={transcriptContext(interrupted()?.run.runId)} />
      </Show>

      <section class="card messages" aria-label="Messages" aria-busy={running() ? "true" : "false"}>
        <Switch>
          <Match when={messages.isError}>
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
              <For each={messages.data}>
                {(message) => (
                  <li class={`message message-${message.info.role}`} data-testid="message" data-role={message.info.role}>
                    <div class="message-role">{message.info.role === "user" ? "You" : `Assistant${message.info.modelID ? ` · ${message.info.providerID ? `${message.info.providerID}/` : ""}${message.info.modelID}` : ""}`}</div>
                    <For each={message.parts}>{(part) => <PartView part={part} />}</For>
                    <Show when={message.info.role === "assistant" && interrupted() && message.info.runId === interrupted()!.run.runId ? interrupted() : undefined}>
                      {(stopped) => (
                        <p class="stop-marker" data-testid="stop-marker">
                          <button type="button" class="link" aria-haspopup="dialog" onClick={() => setPanelOpen(true)}>
                            Stopped here: {STOP_MARKER_WORDS[stopped().classification]}
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
      <Match when={props.part.type === "tool" && "tool" in props.part ? (props.part as { tool: string; state?: { status: string } }) : undefined}>
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

function PromptBox(props: { sessionPath: string; running: boolean; serverDown: boolean; send: (text: string, model: string) => Promise<void> }) {
  const actions = useClientActions()
  const [text, setText] = createSignal("")
  const [choice, setChoice] = createSignal<string>(MODELS[0])
  const [custom, setCustom] = createSignal("openai/")
  const [error, setError] = createSignal("")
  const [sending, setSending] = createSignal(false)
  const [stopping, setStopping] = createSignal(false)
  const model = () => (choice() === OTHER_MODEL ? custom().trim() : choice())

  const send = async () => {
    const prompt = text()
    if (!prompt.trim()) return setError("Write a prompt first.")
    if (!model().includes("/")) return setError("A model is written provider/model, e.g. openai/gpt-4o-mini.")
    setError("")
    setSending(true)
    try {
      await props.send(prompt, model())
      setText("")
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
          <select id="model-select" data-testid="model-select" value={choice()} onChange={(event) => setChoice(event.currentTarget.value)}>
            <For each={MODELS}>{(name) => <option value={name}>{name}</option>}</For>
            <option value={OTHER_MODEL}>Other (provider/model)…</option>
          </select>
        </label>
        <Show when={choice() === OTHER_MODEL}>
          <label class="field inline" for="model-custom">
            <span>Model id</span>
            <input id="model-custom" data-testid="model-custom-input" type="text" spellcheck={false} value={custom()} onInput={(event) => setCustom(event.currentTarget.value)} />
          </label>
        </Show>
        <span class="spacer" />
        <button type="button" data-testid="stop-button" class="danger" disabled={stopping() || !props.running || props.serverDown} onClick={() => void stop()}>
          Stop
        </button>
        <button type="submit" data-testid="send-button" disabled={sending() || props.running || props.serverDown}>
          Send
        </button>
      </div>
      <p class="muted small" role="status" data-testid="run-state">
        {props.serverDown ? "The server is not answering; Send and Stop wait until it is back." : props.running ? "A run is in progress." : ""}
      </p>
      <Show when={error()}>
        <p class="error" role="alert">
          {error()}
        </p>
      </Show>
    </form>
  )
}
