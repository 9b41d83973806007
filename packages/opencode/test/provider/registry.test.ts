import { describe, expect, it } from "vitest"
import { ProviderError, type Provider } from "../../src/provider/provider.ts"
import { DEFAULT_MODEL_REF, createProviderRegistry } from "../../src/provider/registry.ts"
import { createScriptedProvider } from "../../src/provider/scripted.ts"

const fakeOpenAI: Provider = {
  id: "openai",
  async *stream() {
    yield { type: "finish", reason: "stop" }
  },
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error("expected a throw")
}

describe("provider registry", () => {
  it("defaults to scripted/quick", () => {
    const registry = createProviderRegistry()
    expect(DEFAULT_MODEL_REF).toBe("scripted/quick")
    expect(registry.defaultModel).toBe("scripted/quick")
    const resolved = registry.resolve()
    expect(resolved.provider.id).toBe("scripted")
    expect(resolved.model).toBe("quick")
    expect(resolved.ref).toBe("scripted/quick")
    expect(registry.resolve("  ").model).toBe("quick")
  })

  it("uses the scripted provider it is given", () => {
    const scripted = createScriptedProvider({ tickMs: 1 })
    const resolved = createProviderRegistry({ scripted }).resolve("scripted/slow")
    expect(resolved.provider).toBe(scripted)
    expect(resolved.model).toBe("slow")
  })

  it("honours a configured default model", () => {
    expect(createProviderRegistry({ defaultModel: "scripted/stall" }).resolve().model).toBe("stall")
  })

  it("rejects openai refs with provider_not_configured when openai is absent", () => {
    const error = errorOf(() => createProviderRegistry().resolve("openai/gpt-4o-mini"))
    expect(error).toBeInstanceOf(ProviderError)
    expect(error).toMatchObject({ code: "provider_not_configured", status: 400 })
  })

  it("resolves openai refs when openai is configured, keeping slashes in the model name", () => {
    const registry = createProviderRegistry({ openai: fakeOpenAI })
    expect(registry.providerIds().sort()).toEqual(["openai", "scripted"])
    const resolved = registry.resolve("openai/meta-llama/Llama-3-8b")
    expect(resolved.provider).toBe(fakeOpenAI)
    expect(resolved.model).toBe("meta-llama/Llama-3-8b")
  })

  it.each(["quick", "scripted/", "/quick", "acme/model", "scripted/nope"])(
    "rejects %j as model_not_found 400",
    (ref) => {
      const error = errorOf(() => createProviderRegistry().resolve(ref))
      expect(error).toBeInstanceOf(ProviderError)
      expect(error).toMatchObject({ code: "model_not_found", status: 400 })
    },
  )
})
