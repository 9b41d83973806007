/**
 * Resolves `provider/model` references (`scripted/slow`, `openai/gpt-4o-mini`) to a configured
 * provider. Bad references fail with a 400 `ProviderError` before a run starts, so a typo in
 * a prompt's model is a client error, not a run that dies as `provider_error`.
 */
import { createScriptedProvider } from "./scripted.ts"
import { ProviderError, parseModelRef, type Provider } from "./provider.ts"

export const DEFAULT_MODEL_REF = "scripted/quick"

/** Provider ids this server knows how to build; anything else is not a model we can serve. */
const KNOWN_PROVIDER_IDS = ["scripted", "openai"] as const

interface ProviderRegistryOptions {
  /** The built-in scripted provider; created with default timings when omitted. */
  scripted?: Provider
  /** The OpenAI-compatible provider; `openai/...` refs fail as `provider_not_configured` without it. */
  openai?: Provider
  /** The model used when a prompt names none (default `scripted/quick`). */
  defaultModel?: string
}

export interface ResolvedModel {
  provider: Provider
  /** The model name within the provider (`slow`). */
  model: string
  /** The full reference (`scripted/slow`). */
  ref: string
}

export interface ProviderRegistry {
  readonly defaultModel: string
  /** Resolves a `provider/model` ref (the default model when empty or omitted); throws a 400 ProviderError for a bad ref. */
  resolve(modelRef?: string): ResolvedModel
  /** Ids of the providers that are configured. */
  providerIds(): string[]
}

export function createProviderRegistry(options: ProviderRegistryOptions = {}): ProviderRegistry {
  const providers = new Map<string, Provider>()
  providers.set("scripted", options.scripted ?? createScriptedProvider())
  if (options.openai) providers.set("openai", options.openai)
  const defaultModel = options.defaultModel ?? DEFAULT_MODEL_REF

  function resolve(modelRef?: string): ResolvedModel {
    const ref = modelRef?.trim() || defaultModel
    const parsed = parseModelRef(ref)
    if (!parsed) throw new ProviderError("model_not_found", 'model must look like "provider/model"', 400)
    const provider = providers.get(parsed.providerId)
    if (!provider) {
      if ((KNOWN_PROVIDER_IDS as readonly string[]).includes(parsed.providerId)) {
        throw new ProviderError(
          "provider_not_configured",
          `provider "${parsed.providerId}" is not configured (set OPENAI_BASE_URL and/or OPENAI_API_KEY)`,
          400,
        )
      }
      throw new ProviderError("model_not_found", `unknown provider; known: ${KNOWN_PROVIDER_IDS.join(", ")}`, 400)
    }
    // Providers that list their models (the scripted one) let us reject an unknown model before a run starts.
    const models = (provider as { models?: readonly string[] }).models
    if (models && !models.includes(parsed.model)) {
      throw new ProviderError("model_not_found", `unknown model; ${parsed.providerId} has: ${models.join(", ")}`, 400)
    }
    return { provider, model: parsed.model, ref }
  }

  return { defaultModel, resolve, providerIds: () => [...providers.keys()] }
}
