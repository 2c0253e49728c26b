"""LLM providers behind one interface: `scripted` (offline replay), OpenAI-compatible Chat
Completions (`openai` package) and Anthropic Messages (`anthropic` package), configured per
organization (tools.models.ModelProviderConfig) and chosen by tools.providers.registry."""
