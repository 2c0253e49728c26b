"""`manage.py set_secret ORG NAME`: stores a vault secret, reading its value from standard
input (piped, or typed without echo), never from the command line where shell history and
process listings would keep it. `set_secret NAME --org ORG` is accepted too. The last line
printed names what was stored."""

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.accounts.models import Organization
from agentstudio.errors import AppError
from tools.vault import secret_set


class Command(BaseCommand):
    help = (
        "Store (or replace) a secret in an organization's vault: set_secret ORG NAME "
        "(or NAME --org ORG); the value comes from stdin."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "names",
            nargs="+",
            metavar="ORG NAME",
            help="the organization's name, then the secret's name (e.g. Demo slack.webhook)",
        )
        parser.add_argument("--org", help="the organization's name (instead of the first argument)")

    def handle(self, *args: Any, **options: Any) -> None:
        org_name, secret_name = self._org_and_secret_names(options["names"], options["org"])
        organization = Organization.objects.filter(name=org_name).first()
        if organization is None:
            raise CommandError(f"No organization named {org_name!r}.")
        if sys.stdin.isatty():
            value = getpass.getpass(f"value of {secret_name} (not echoed): ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        try:
            secret_set(organization=organization, actor=None, name=secret_name, value=value)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"stored {secret_name} in the vault of {organization.name}")

    @staticmethod
    def _org_and_secret_names(names: list[str], org_option: str | None) -> tuple[str, str]:
        if org_option is not None and len(names) == 1:
            return org_option, names[0]
        if org_option is None and len(names) == 2:
            return names[0], names[1]
        raise CommandError(
            "Name the organization and the secret: set_secret ORG NAME (or NAME --org ORG)."
        )
