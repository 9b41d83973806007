/**
 * Focus goes back to what opened the drawer, even when the list it sat in re-rendered while the
 * drawer was open (its element replaced by an equal one at the same place).
 */
import { afterEach, describe, expect, it } from "vitest"
import { currentOpener, returnFocus } from "../src/pages/focus-return.ts"

afterEach(() => {
  document.body.innerHTML = ""
})

/** A transcript item with a stop marker for `runId`, as the session view renders it. */
function markerItem(runId: string): HTMLLIElement {
  const item = document.createElement("li")
  item.innerHTML = `<p class="stop-marker" data-testid="stop-marker" data-run-id="${runId}"><button type="button">Stopped here</button></p>`
  return item
}

describe("focus back to the opener", () => {
  it("the opener itself, when it is still there", () => {
    const list = document.body.appendChild(document.createElement("ol"))
    list.append(markerItem("run_a"), markerItem("run_b"))
    const button = list.querySelectorAll("button")[1]!
    button.focus()
    const opener = currentOpener()
    document.body.focus()
    returnFocus(opener, () => undefined)
    expect(document.activeElement).toBe(button)
  })

  it("its replacement at the same place when the list re-rendered meanwhile, not the fallback", () => {
    const banner = document.body.appendChild(document.createElement("button"))
    const list = document.body.appendChild(document.createElement("ol"))
    list.append(markerItem("run_a"), markerItem("run_b"))
    list.querySelectorAll("button")[1]!.focus()
    const opener = currentOpener()
    expect(opener?.place).toBe('[data-testid="stop-marker"][data-run-id="run_b"]')
    // A late update re-renders every item: new elements, same places.
    list.replaceChildren(markerItem("run_a"), markerItem("run_b"))
    returnFocus(opener, () => banner)
    expect(document.activeElement).toBe(list.querySelectorAll("button")[1])
  })

  it("a run history row's link, found again the same way", () => {
    const row = () => {
      const item = document.createElement("li")
      item.setAttribute("data-testid", "run-history-row")
      item.setAttribute("data-run-id", "run_c")
      item.innerHTML = `<span>12:00</span><a href="/app/session/ses_1/run/run_c">Why did it stop?</a>`
      return item
    }
    const list = document.body.appendChild(document.createElement("ol"))
    list.append(row())
    list.querySelector("a")!.focus()
    const opener = currentOpener()
    list.replaceChildren(row())
    returnFocus(opener, () => undefined)
    expect(document.activeElement).toBe(list.querySelector("a"))
  })

  it("the fallback when the opener's place is gone too, or it had none", () => {
    const banner = document.body.appendChild(document.createElement("button"))
    const list = document.body.appendChild(document.createElement("ol"))
    list.append(markerItem("run_a"))
    list.querySelector("button")!.focus()
    const opener = currentOpener()
    list.replaceChildren()
    returnFocus(opener, () => banner)
    expect(document.activeElement).toBe(banner)

    const loose = document.body.appendChild(document.createElement("button"))
    loose.focus()
    const placeless = currentOpener()
    expect(placeless?.place).toBeUndefined()
    loose.remove()
    returnFocus(placeless, () => banner)
    expect(document.activeElement).toBe(banner)
  })
})
