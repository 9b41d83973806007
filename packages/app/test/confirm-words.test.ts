/** The confirmation's words: its question and its button name the operation by its word and count the runs. */
import { describe, expect, it } from "vitest"
import { stopLabel } from "../src/pages/confirm-dialog.tsx"
import { PROJECT_ACTIONS } from "../src/pages/project-actions.tsx"

const one = [{ directory: "/p/a", runs: 1 }]
const two = [
  { directory: "/p/a", runs: 1 },
  { directory: "/p/b", runs: 1 },
]

describe("confirmation words", () => {
  it("says the run for one run, and counts more", () => {
    expect(stopLabel("Save", one)).toBe("Save and stop the run")
    expect(stopLabel("Save", two)).toBe("Save and stop the 2 runs")
    expect(stopLabel("Close project", [{ directory: "/p/a", runs: 3 }])).toBe("Close project and stop the 3 runs")
  })

  it("asks with the operation's word, a capital and a question mark, for every project action", () => {
    for (const action of PROJECT_ACTIONS) {
      expect(action.question).toMatch(/^[A-Z][^]*\?/)
      expect(action.question).not.toMatch(/dispos/i)
    }
    expect(PROJECT_ACTIONS.find((action) => action.name === "instance.dispose")!.question).toBe("Close this project?")
  })
})
