"""App config for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "agentstudio.accounts"
    label = "accounts"
    verbose_name = "Accounts"
