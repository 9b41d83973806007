/**
 * A side drawer that is a real modal: rendered at the end of the page, with everything else
 * inert while it is open (no click, no Tab and no screen reader reaches the page behind it), and a
 * backdrop that closes it. The caller decides where focus goes when it closes.
 */
import { onCleanup, onMount, type JSX } from "solid-js"
import { Portal } from "solid-js/web"

export function ModalDrawer(props: { onClose: () => void; children: JSX.Element }) {
  onMount(() => {
    const root = document.getElementById("root")
    root?.setAttribute("inert", "")
    onCleanup(() => root?.removeAttribute("inert"))
  })
  return (
    <Portal>
      <div class="drawer-scrim" aria-hidden="true" onClick={() => props.onClose()} />
      <aside
        class="drawer"
        role="dialog"
        aria-modal="true"
        aria-labelledby="incident-panel-title"
        data-testid="incident-drawer"
      >
        {props.children}
      </aside>
    </Portal>
  )
}
