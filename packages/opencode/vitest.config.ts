import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "opencode",
    environment: "node",
    // Every test lives under test/, by domain (test/architecture/test-config.test.ts keeps this list true).
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
})
