"""`manage.py add_provider ORG NAME --kind openai --base-url URL [--api-key-secret NAME]
[--default-model M] [--timeout S] [--connect-timeout S] [--max-retries N] [--default]
[--ai-services]`: configures (or updates) an organization's model provider. The API key is
the name of a vault secret (`manage.py set_secret ORG NAME` stores it), never the key."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.accounts.models import Organization
from agentstudio.errors import AppError
from tools.providers.configs import provider_config_save


class Command(BaseCommand):
    help = "Configure (or update) a model provider of an organization."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("org", help="the organization's name")
        parser.add_argument("name", help="the provider's name, as playbooks name it")
        parser.add_argument("--kind", choices=["openai", "anthropic"])
        parser.add_argument("--base-url", help="e.g. https://api.openai.com/v1")
        parser.add_argument("--api-key-secret", help="the vault secret holding the API key")
        parser.add_argument("--default-model")
        parser.add_argument("--timeout", type=float, help="seconds to wait for an answer")
        parser.add_argument("--connect-timeout", type=float, help="seconds to connect")
        parser.add_argument("--max-retries", type=int)
        parser.add_argument("--default", action="store_true", help="what `provider: default` uses")
        parser.add_argument("--ai-services", action="store_true", help="the AI services use it")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(name=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization named {options['org']!r}.")
        names = {
            "kind": "kind",
            "base_url": "base_url",
            "api_key_secret": "api_key_secret",
            "default_model": "default_model",
            "timeout": "timeout_seconds",
            "connect_timeout": "connect_timeout_seconds",
            "max_retries": "max_retries",
        }
        fields = {field: options[o] for o, field in names.items() if options[o] is not None}
        if options["default"]:
            fields["is_default"] = True
        if options["ai_services"]:
            fields["use_for_ai_services"] = True
        try:
            config, created = provider_config_save(
                organization=organization, actor=None, name=options["name"], **fields
            )
        except AppError as exc:
            problems = "; ".join(f"{d['path']}: {d['message']}" for d in exc.details)
            raise CommandError(f"{exc.message} {problems}".strip()) from exc
        verb = "added" if created else "updated"
        self.stdout.write(
            f"{verb} model provider {config.name} ({config.kind}, {config.base_url}) "
            f"of {organization.name}"
            + (" [default]" if config.is_default else "")
            + (" [ai services]" if config.use_for_ai_services else "")
        )
