"""Approvals: hash-bound decisions by people. May import only the core (`agentstudio`)."""

from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"
