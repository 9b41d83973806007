/**
 * The server's event stream (`GET /event`), parsed with zod where the app relies on an event's
 * shape. An event that does not parse is dropped with a console warning rather than trusted.
 *
 * EventSource cannot send headers, so the directory and the token go in the query string; the
 * server accepts `?token=` on `/event` only. EventSource reconnects by itself and sends
 * `Last-Event-ID`; a stream it gives up (a 401 or 503 answer) is reopened here with backoff and
 * `?lastEventId=`. Either way the server then replays what was missed or emits
 * `server.replay_gap`, on which subscribers refetch.
 */
import { EVENT_PROPERTIES, type EventType, IncidentChain, type ServerEvent, WireEvents } from "opencode/provenance"
import {
  type Accessor,
  createContext,
  createEffect,
  createSignal,
  onCleanup,
  type ParentProps,
  useContext,
} from "solid-js"
import { z } from "zod"

/**
 * Every event's properties, as the server's wire defines them (`opencode/provenance`). One
 * leniency of the app's own: an incident that does not parse must not cost it the run's summary.
 */
const EVENT_SCHEMAS = {
  ...EVENT_PROPERTIES,
  "run.finished": WireEvents.RunFinished.properties.extend({ incident: IncidentChain.optional().catch(undefined) }),
}

const Envelope = z.object({ type: z.string(), properties: z.unknown().optional() })

/**
 * @example parseServerEvent('{"type":"session.idle","properties":{"sessionID":"ses_1"}}')
 */
export function parseServerEvent(data: string): ServerEvent | undefined {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return undefined
  }
  const envelope = Envelope.safeParse(json)
  if (!envelope.success || !(envelope.data.type in EVENT_SCHEMAS)) return undefined
  const type = envelope.data.type as EventType
  const properties = EVENT_SCHEMAS[type].safeParse(envelope.data.properties ?? {})
  if (!properties.success) {
    console.warn(
      `event ${type} dropped: ${properties.error.issues[0]?.path.join(".") ?? ""} ${properties.error.issues[0]?.message ?? ""}`,
    )
    return undefined
  }
  return { type, properties: properties.data } as ServerEvent
}

type StreamStatus = "connecting" | "open" | "reconnecting" | "closed"

export interface EventHub {
  subscribe(listener: (event: ServerEvent) => void): () => void
  /** Delivers one event to every subscriber (the stream calls it; tests call it directly). */
  emit(event: ServerEvent): void
  status: Accessor<StreamStatus>
  setStatus(status: StreamStatus): void
}

export function createEventHub(): EventHub {
  const listeners = new Set<(event: ServerEvent) => void>()
  const [status, setStatus] = createSignal<StreamStatus>("closed")
  return {
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    emit(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event)
        } catch (error) {
          console.error(error)
        }
      }
    },
    status,
    setStatus,
  }
}

/** What `connectEventStream` needs of an EventSource; tests pass a fake. */
export interface EventSourceLike {
  readonly readyState: number
  onopen: ((event: Event) => void) | null
  onerror: ((event: Event) => void) | null
  onmessage: ((message: MessageEvent<string>) => void) | null
  addEventListener(type: string, listener: (message: MessageEvent<string>) => void): void
  close(): void
}

/** `EventSource.CLOSED`: the browser has given the stream up and will not retry it. */
const CLOSED = 2
/** The first wait before reopening a stream the browser gave up; it doubles up to the cap. */
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 30_000

/**
 * `target` resuming after `id`. A new EventSource cannot set `Last-Event-ID`, so it goes in the
 * query (`?lastEventId=`, which the server reads when the header is absent).
 *
 * @example resumeUrl("/event?directory=%2Frepo", "boot1:8") // "/event?directory=%2Frepo&lastEventId=boot1%3A8"
 */
function resumeUrl(target: string, id: string): string {
  return `${target}${target.includes("?") ? "&" : "?"}lastEventId=${encodeURIComponent(id)}`
}

/**
 * Connects `hub` to the server's stream for as long as the owner lives, reconnecting when the
 * URL (the selected directory) changes. Named and unnamed SSE messages are both accepted.
 *
 * A dropped connection the browser retries by itself (readyState CONNECTING). One it gives up
 * (CLOSED: a non-200 answer such as 401 or 503, or a wrong content-type) is reopened here after
 * 1 s, doubling to 30 s, the wait starting over once a stream opens; it resumes from the last
 * event id read, so the server replays what was missed or sends `server.replay_gap`. The status
 * is `reconnecting` until a stream opens again; retries stop when the owner is disposed or the
 * URL changes.
 */
export function connectEventStream(
  hub: EventHub,
  url: Accessor<string | undefined>,
  createSource: ((url: string) => EventSourceLike) | undefined = typeof EventSource === "undefined"
    ? undefined
    : (target) => new EventSource(target),
): void {
  createEffect(() => {
    const target = url()
    if (!target || !createSource) return
    let source: EventSourceLike | undefined
    let retry: ReturnType<typeof setTimeout> | undefined
    let wait = RETRY_FIRST_MS
    // The last id read on this URL: where a reopened stream resumes.
    let lastEventId = ""
    const onMessage = (message: MessageEvent<string>) => {
      if (message.lastEventId) lastEventId = message.lastEventId
      const event = parseServerEvent(message.data)
      if (event) hub.emit(event)
    }
    const open = () => {
      retry = undefined
      const current = createSource(lastEventId ? resumeUrl(target, lastEventId) : target)
      source = current
      current.onopen = () => {
        wait = RETRY_FIRST_MS
        hub.setStatus("open")
      }
      current.onerror = () => {
        if (current !== source) return
        hub.setStatus("reconnecting")
        if (current.readyState !== CLOSED || retry !== undefined) return
        current.close()
        retry = setTimeout(open, wait)
        wait = Math.min(wait * 2, RETRY_MAX_MS)
      }
      current.onmessage = onMessage
      for (const type of Object.keys(EVENT_SCHEMAS)) current.addEventListener(type, onMessage)
    }
    hub.setStatus("connecting")
    open()
    onCleanup(() => {
      clearTimeout(retry)
      retry = undefined
      source?.close()
      source = undefined
      hub.setStatus("closed")
    })
  })
}

const EventsContext = createContext<EventHub>()

export function EventsProvider(props: ParentProps<{ hub: EventHub; url?: Accessor<string | undefined> }>) {
  if (props.url) connectEventStream(props.hub, props.url)
  return <EventsContext.Provider value={props.hub}>{props.children}</EventsContext.Provider>
}

export function useEvents(): EventHub {
  const hub = useContext(EventsContext)
  if (!hub) throw new Error("useEvents outside EventsProvider")
  return hub
}

/** Subscribes for the lifetime of the calling component. */
export function onServerEvent(listener: (event: ServerEvent) => void): void {
  const hub = useEvents()
  onCleanup(hub.subscribe(listener))
}
