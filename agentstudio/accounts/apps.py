"""Accounts (core): organizations, roles, API keys. May import only the core, no app."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "agentstudio.accounts"
    label = "accounts"
    verbose_name = "Accounts"
