/**
 * The server's event stream (`GET /event`), parsed with zod where the app relies on an event's
 * shape. An event that does not parse is dropped with a console warning rather than trusted.
 *
 * EventSource cannot send headers, so the directory and the token go in the query string; the
 * server accepts `?token=` on `/event` only. EventSource reconnects by itself and sends
 * `Last-Event-ID`; the server then replays what was missed or emits `server.replay_gap`, on
 * which subscribers refetch.
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

/**
 * Connects `hub` to the server's stream for as long as the owner lives, reconnecting when the
 * URL (the selected directory) changes. Named and unnamed SSE messages are both accepted.
 */
function connectEventStream(hub: EventHub, url: Accessor<string | undefined>): void {
  createEffect(() => {
    const target = url()
    if (!target || typeof EventSource === "undefined") return
    const source = new EventSource(target)
    hub.setStatus("connecting")
    const onMessage = (message: MessageEvent<string>) => {
      const event = parseServerEvent(message.data)
      if (event) hub.emit(event)
    }
    source.onopen = () => hub.setStatus("open")
    source.onerror = () => hub.setStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting")
    source.onmessage = onMessage
    for (const type of Object.keys(EVENT_SCHEMAS)) source.addEventListener(type, onMessage as EventListener)
    onCleanup(() => {
      source.close()
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
