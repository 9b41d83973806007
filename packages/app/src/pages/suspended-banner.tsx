/**
 * The banner on a session whose last run did not complete: one line saying what stopped it,
 * and the button that opens the incident panel.
 */
import type { Classification, IncidentChain, RunSummary } from "opencode/provenance"
import { Show } from "solid-js"
import { bannerText } from "../diagnostics/verdict-words.ts"

interface SuspendedBannerProps {
  classification: Classification
  summary?: RunSummary
  incident?: IncidentChain
  isOwnAction: (actionId: string | undefined) => boolean
  onExplain: () => void
  /** Hides the banner for this run. */
  onDismiss?: () => void
  /** The "Why did this run stop?" button, so focus can return to it when the panel closes. */
  buttonRef?: (element: HTMLButtonElement) => void
}

export function SuspendedBanner(props: SuspendedBannerProps) {
  const text = () =>
    bannerText({
      classification: props.classification,
      summary: props.summary,
      incident: props.incident,
      isOwnAction: props.isOwnAction,
    })
  return (
    <Show when={props.classification !== "completed"}>
      <div
        class={`banner banner-${props.incident?.verdict ?? "pending"}`}
        role="status"
        id="run-banner"
        tabindex="-1"
        data-testid="suspended-banner"
        data-classification={props.classification}
      >
        <span data-testid="suspended-banner-text">{text()}</span>
        <button
          type="button"
          data-testid="suspended-banner-button"
          ref={props.buttonRef}
          onClick={() => props.onExplain()}
        >
          Why did this run stop?
        </button>
        <Show when={props.onDismiss}>
          <button
            type="button"
            class="quiet"
            data-testid="banner-dismiss"
            aria-label="Dismiss this notice"
            onClick={() => props.onDismiss?.()}
          >
            Dismiss
          </button>
        </Show>
      </div>
    </Show>
  )
}
