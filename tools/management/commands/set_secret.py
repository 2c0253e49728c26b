"""`manage.py set_secret --org NAME SECRET_NAME`: stores a vault secret, reading its value from
standard input (piped, or typed without echo), never from the command line where shell
history and process listings would keep it. The last line printed names what was stored."""

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.accounts.models import Organization
from agentstudio.errors import AppError
from tools.vault import secret_set


class Command(BaseCommand):
    help = "Store (or replace) a secret in an organization's vault; the value comes from stdin."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the secret's name, e.g. slack.webhook")
        parser.add_argument("--org", required=True, help="the organization's name")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(name=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization named {options['org']!r}.")
        if sys.stdin.isatty():
            value = getpass.getpass(f"value of {options['name']} (not echoed): ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        try:
            secret_set(organization=organization, actor=None, name=options["name"], value=value)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"stored {options['name']} in the vault of {organization.name}")
