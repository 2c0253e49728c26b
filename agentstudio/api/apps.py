"""API (core): shared DRF pieces and OpenAPI hooks; only its urls.py may import the apps."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "agentstudio.api"
    label = "studio_api"
    verbose_name = "API"

    def ready(self) -> None:
        from agentstudio.api import schema  # noqa: F401  (registers the extensions)
