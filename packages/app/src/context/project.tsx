/**
 * The selected project directory. The app sends it raw (percent-encoded) on every request; only
 * the server normalises paths. The current choice lives in sessionStorage (per tab), the recent
 * ones in localStorage.
 */
import { type Accessor, createContext, createSignal, type ParentProps, useContext } from "solid-js"
import { defaultDirectory } from "./server.ts"

const CURRENT_KEY = "opencode.directory"
const RECENT_KEY = "opencode.recentDirectories"
const MAX_RECENT = 8

interface ProjectState {
  directory: Accessor<string | undefined>
  recent: Accessor<string[]>
  select(directory: string): void
  forgetRecent(directory: string): void
}

const ProjectContext = createContext<ProjectState>()

export function createProjectState(storage: { session?: Storage; local?: Storage } = browserStorage()): ProjectState {
  const [directory, setDirectory] = createSignal<string | undefined>(storage.session?.getItem(CURRENT_KEY) ?? undefined)
  const [recent, setRecent] = createSignal<string[]>(readRecent(storage.local))
  // Another tab of this app opening a project updates the list here too (Dispose all counts its runs).
  if (typeof window !== "undefined" && storage.local) {
    window.addEventListener("storage", (event) => {
      if (event.key === RECENT_KEY) setRecent(readRecent(storage.local))
    })
  }
  const saveRecent = (list: string[]) => {
    setRecent(list)
    storage.local?.setItem(RECENT_KEY, JSON.stringify(list))
  }
  return {
    directory,
    recent,
    select(next) {
      const dir = next.trim()
      if (!dir) return
      setDirectory(dir)
      storage.session?.setItem(CURRENT_KEY, dir)
      saveRecent([dir, ...recent().filter((item) => item !== dir)].slice(0, MAX_RECENT))
    },
    forgetRecent(dir) {
      saveRecent(recent().filter((item) => item !== dir))
    },
  }
}

export function ProjectProvider(props: ParentProps<{ state?: ProjectState }>) {
  const state = props.state ?? createProjectState()
  return <ProjectContext.Provider value={state}>{props.children}</ProjectContext.Provider>
}

export function useProject(): ProjectState {
  const state = useContext(ProjectContext)
  if (!state) throw new Error("useProject outside ProjectProvider")
  return state
}

/** The directory the picker proposes: the current one, else the server's default. */
export function proposedDirectory(state: ProjectState): string {
  return state.directory() ?? state.recent()[0] ?? defaultDirectory() ?? ""
}

function readRecent(storage: Storage | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(RECENT_KEY) ?? "[]")
    return Array.isArray(parsed)
      ? parsed.filter((item): item is string => typeof item === "string").slice(0, MAX_RECENT)
      : []
  } catch {
    return []
  }
}

function browserStorage(): { session?: Storage; local?: Storage } {
  try {
    return { session: window.sessionStorage, local: window.localStorage }
  } catch {
    return {}
  }
}
