"""Approvals: hash-bound human decisions and their audit trail. May import the core
(`agentstudio`) only; what a decision does is registered by tools and playbooks
(approvals.effects)."""

from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"
