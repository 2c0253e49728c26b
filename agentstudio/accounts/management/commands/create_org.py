"""`manage.py create_org NAME`: the last line printed is the new organization's id."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.accounts.services import organization_create
from agentstudio.errors import AppError


class Command(BaseCommand):
    help = "Create an organization."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = organization_create(name=options["name"])
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(organization.pk))
