"""Audit (core): the hash-chained, append-only log. May import only the core, no app."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "agentstudio.audit"
    label = "audit"
    verbose_name = "Audit log"
