"""Billing (core): organization credit and its ledger. May import only the core, no app."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "agentstudio.billing"
    label = "billing"
    verbose_name = "Billing"
