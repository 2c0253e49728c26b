"""`manage.py grant_credits ORG AMOUNT_USD`: adds credit; the last line is the new balance."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.accounts.models import Organization
from agentstudio.billing.services import credits_grant
from agentstudio.errors import AppError


class Command(BaseCommand):
    help = "Grant credit (USD) to an organization."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("org")
        parser.add_argument("amount")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(name=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization named {options['org']!r}.")
        try:
            entry = credits_grant(organization=organization, amount=options["amount"])
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{entry.balance_after.normalize():f}")
