"""Operations (composition root): `serve` and its ASGI app. May import every app."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "agentstudio.ops"
    label = "ops"
    verbose_name = "Operations"
