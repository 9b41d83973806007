/**
 * A side drawer that is a real modal: rendered at the end of the page, with everything else
 * inert while it is open (no click, no Tab and no screen reader reaches the page behind it), and a
 * backdrop that closes it. The focus moves in as it opens, whatever it shows (loading, an error,
 * the explanation): to its heading, or to the drawer itself when it has none; it never stays on the
 * inert page. The caller decides where focus goes when it closes.
 */
import { onCleanup, onMount, type JSX } from "solid-js"
import { Portal } from "solid-js/web"

/** The drawer's heading, which names it: the incident panel's, in every state of the panel. */
const TITLE_ID = "incident-panel-title"

export function ModalDrawer(props: { onClose: () => void; children: JSX.Element }) {
  let drawer: HTMLElement | undefined
  onMount(() => {
    const root = document.getElementById("root")
    root?.setAttribute("inert", "")
    onCleanup(() => root?.removeAttribute("inert"))
    // Content that already took the focus (its own heading) keeps it.
    if (!drawer || drawer.contains(document.activeElement)) return
    ;(drawer.querySelector<HTMLElement>(`#${TITLE_ID}`) ?? drawer).focus({ preventScroll: true })
  })
  return (
    <Portal>
      <div class="drawer-scrim" aria-hidden="true" onClick={() => props.onClose()} />
      <aside
        class="drawer"
        role="dialog"
        aria-modal="true"
        aria-labelledby={TITLE_ID}
        data-testid="incident-drawer"
        tabindex="-1"
        ref={drawer}
      >
        {props.children}
      </aside>
    </Portal>
  )
}
