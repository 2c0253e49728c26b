"""App config for operations commands."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "agentstudio.ops"
    label = "ops"
    verbose_name = "Operations"
