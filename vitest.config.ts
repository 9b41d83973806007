import { defineConfig } from "vitest/config"

// Each package owns its vitest.config.ts (projects "opencode" and "app"). The glob form
// lets `vitest run` work before a package has its config: only configs that exist run.
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts"],
  },
})
