"""Which provider answers a model spec: `scripted`, a configured provider by name, or
`default` (the organization's default provider, else the one AGENTSTUDIO_DEFAULT_MODEL_PROVIDER
names, else `scripted`); and which provider the studio's AI services use."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tools.providers.anthropic_messages import AnthropicMessagesProvider
from tools.providers.base import ModelProvider, ModelProviderError
from tools.providers.openai_chat import OpenAIChatProvider
from tools.providers.scripted import ScriptedProvider
from tools.providers.sdk_support import ProviderSettings

_KINDS: dict[str, Any] = {
    "openai": OpenAIChatProvider,
    "anthropic": AnthropicMessagesProvider,
}


def provider_settings(config: Any) -> ProviderSettings:
    """A ModelProviderConfig row as what a provider needs."""
    return ProviderSettings(
        name=config.name,
        kind=config.kind,
        base_url=config.base_url,
        organization_id=config.organization_id,
        api_key_secret=config.api_key_secret,
        default_model=config.default_model,
        timeout_seconds=float(config.timeout_seconds),
        connect_timeout_seconds=float(config.connect_timeout_seconds),
        max_retries=int(config.max_retries),
    )


def provider_from_settings(config: ProviderSettings) -> ModelProvider:
    kind = _KINDS.get(config.kind)
    if kind is None:
        raise ModelProviderError(
            f"Model provider {config.name!r} has an unknown kind {config.kind!r}."
        )
    return kind(config)


def _configs(organization: Any) -> Any:
    from tools.models import ModelProviderConfig

    if organization is None:
        return ModelProviderConfig.objects.none()
    return ModelProviderConfig.objects.filter(organization=organization)


def provider_for(model_spec: dict[str, Any], *, organization: Any) -> ModelProvider:
    """The provider for a spec's `model:` in an organization (None: scripted or nothing)."""
    name = model_spec.get("provider") or "default"
    if name == "scripted":
        return ScriptedProvider()
    configs = _configs(organization)
    if name == "default":
        config = configs.filter(is_default=True).first()
        fallback = settings.AGENTSTUDIO_DEFAULT_MODEL_PROVIDER
        if config is None and fallback and fallback not in ("scripted", "default"):
            config = configs.filter(name=fallback).first()
        if config is None:
            return ScriptedProvider()
        return provider_from_settings(provider_settings(config))
    config = configs.filter(name=name).first()
    if config is None:
        raise ModelProviderError(
            f"Model provider {name!r} is not configured for this organization; configure "
            "it (admin, or `manage.py add_provider`), or use `provider: default` or "
            "`provider: scripted`."
        )
    return provider_from_settings(provider_settings(config))


def ai_services_provider(*, organization: Any) -> tuple[ModelProvider, str] | None:
    """The provider the organization's AI services use and its model name, or None when no
    provider is marked `use_for_ai_services` (the services are then off)."""
    config = _configs(organization).filter(use_for_ai_services=True).first()
    if config is None:
        return None
    return provider_from_settings(provider_settings(config)), config.default_model
