import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "opencode",
    environment: "node",
    // test/ for cross-cutting suites; src/**/__tests__ for tests kept beside their code.
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
})
