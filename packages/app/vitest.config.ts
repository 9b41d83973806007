import solid from "vite-plugin-solid"
import { defineProject } from "vitest/config"

export default defineProject({
  plugins: [solid()],
  test: {
    name: "app",
    setupFiles: ["./test/setup.ts"],
    environment: "happy-dom",
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 20_000,
  },
})
