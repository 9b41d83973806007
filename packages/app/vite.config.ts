import { defineConfig, type PluginOption } from "vite"
import solid from "vite-plugin-solid"

// The server serves dist/ at `/` (index.html and /assets/*), so assets use the absolute base.
export default defineConfig({
  base: "/",
  // vite-plugin-solid is typed against the root's vite (vitest's), whose Plugin type differs from
  // this package's vite; both accept the plugin at run time.
  plugins: [solid() as PluginOption],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    // `vite dev` against a running server: OPENCODE_URL=http://127.0.0.1:4096 npm run dev -w @opencode-provenance/app
    proxy: process.env.OPENCODE_URL
      ? Object.fromEntries(
          [
            "/session",
            "/event",
            "/instance",
            "/global",
            "/project",
            "/config",
            "/diagnostics",
            "/health",
            "/login",
          ].map((path) => [path, { target: process.env.OPENCODE_URL, changeOrigin: false }]),
        )
      : undefined,
  },
})
