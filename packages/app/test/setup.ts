import { cleanup } from "@solidjs/testing-library"
import { afterEach } from "vitest"

// Auto-cleanup needs vitest globals; this keeps tests independent without them.
afterEach(() => cleanup())
