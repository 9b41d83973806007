/**
 * Focus back to what opened a drawer, when it closes. The opener is remembered with its place:
 * the nearest holder that names a run (`data-testid` and `data-run-id`, a transcript's stop marker
 * or a run history row). Lists re-render while a drawer is open (a message's late update
 * replaces its item), so the element itself may be gone by then; its replacement at the same
 * place takes the focus, and only when there is none does the fallback.
 */

export interface Opener {
  element: HTMLElement
  /** A selector for the opener's holder, when it has one. */
  place?: string
}

const FOCUSABLE = "button, a[href], [tabindex]"

/** The element that has the focus now, with its place; undefined when nothing in particular has it. */
export function currentOpener(): Opener | undefined {
  const active = document.activeElement
  if (!(active instanceof HTMLElement) || active === document.body) return undefined
  const holder = active.closest<HTMLElement>("[data-testid][data-run-id]")
  const testid = holder?.getAttribute("data-testid")
  const runId = holder?.getAttribute("data-run-id")
  return {
    element: active,
    ...(testid && runId ? { place: `[data-testid="${CSS.escape(testid)}"][data-run-id="${CSS.escape(runId)}"]` } : {}),
  }
}

/** Focuses the opener, or its replacement at the same place, or `fallback`; the page does not scroll. */
export function returnFocus(opener: Opener | undefined, fallback: () => HTMLElement | null | undefined): void {
  let element: HTMLElement | null | undefined = opener?.element.isConnected ? opener.element : undefined
  if (!element && opener?.place) {
    const holder = document.querySelector<HTMLElement>(opener.place)
    element = holder?.matches(FOCUSABLE) ? holder : holder?.querySelector<HTMLElement>(FOCUSABLE)
  }
  ;(element ?? fallback())?.focus({ preventScroll: true })
}
