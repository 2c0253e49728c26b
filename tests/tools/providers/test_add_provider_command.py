"""`manage.py add_provider`: adds, then updates, an organization's model provider."""

import pytest
from django.core.management import CommandError, call_command

from tools.models import ModelProviderConfig


def test_add_then_update(org, capsys):
    call_command(
        "add_provider",
        "Acme",
        "house",
        "--kind",
        "anthropic",
        "--base-url",
        "https://api.anthropic.com",
        "--api-key-secret",
        "anthropic.key",
        "--default-model",
        "claude-x",
        "--timeout",
        "45",
        "--max-retries",
        "4",
        "--default",
    )
    assert capsys.readouterr().out.strip() == (
        "added model provider house (anthropic, https://api.anthropic.com) of Acme [default]"
    )
    config = ModelProviderConfig.objects.get(organization=org, name="house")
    assert (config.kind, config.api_key_secret, config.default_model) == (
        "anthropic",
        "anthropic.key",
        "claude-x",
    )
    assert (config.timeout_seconds, config.max_retries, config.is_default) == (45, 4, True)
    assert config.use_for_ai_services is False

    call_command("add_provider", "Acme", "house", "--default-model", "claude-y", "--ai-services")
    assert capsys.readouterr().out.strip().startswith("updated model provider house")
    config.refresh_from_db()
    assert (config.default_model, config.use_for_ai_services, config.is_default) == (
        "claude-y",
        True,
        True,
    )
    assert ModelProviderConfig.objects.count() == 1


def test_refusals_are_clear(org):
    with pytest.raises(CommandError, match="No organization named 'Nope'"):
        call_command("add_provider", "Nope", "x", "--kind", "openai", "--base-url", "http://a")
    with pytest.raises(CommandError, match="is reserved"):
        call_command(
            "add_provider", "Acme", "default", "--kind", "openai", "--base-url", "http://a"
        )
    with pytest.raises(CommandError, match="/kind"):
        call_command("add_provider", "Acme", "house", "--base-url", "http://a")
    assert not ModelProviderConfig.objects.exists()


def test_ai_services_provider_is_the_marked_one(org, other_org, openai_server):
    from tests.support.model_servers import provider_configure
    from tools.providers.openai_chat import OpenAIChatProvider
    from tools.providers.registry import ai_services_provider

    assert ai_services_provider(organization=org) is None
    provider_configure(org, openai_server, name="plain")
    assert ai_services_provider(organization=org) is None
    provider_configure(org, openai_server, name="helper", ai_services=True, default_model="m-ai")
    provider, model = ai_services_provider(organization=org)
    assert isinstance(provider, OpenAIChatProvider)
    assert (provider.name, model) == ("helper", "m-ai")
    assert ai_services_provider(organization=other_org) is None
