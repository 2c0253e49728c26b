"""`manage.py create_user USERNAME --org NAME --role ROLE [--api-key] [--password P]`.

The last line printed is the new API key with --api-key, else the user's id.
"""

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agentstudio.accounts.models import Organization, Role
from agentstudio.accounts.services import api_key_create, user_create
from agentstudio.errors import AppError


class Command(BaseCommand):
    help = "Create a user in an organization with a role."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password",
            help="Set this password (default: none, or generated "
            "and printed for roles that use the admin).",
        )
        parser.add_argument("--api-key", action="store_true", help="Also create an API key.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(name=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization named {options['org']!r}; run create_org first.")
        password = options["password"]
        generated = False
        if password is None and options["role"] in (Role.ADMIN, Role.APPROVER):
            password, generated = secrets.token_urlsafe(12), True
        try:
            with transaction.atomic():
                user = user_create(
                    organization=organization,
                    username=options["username"],
                    role=options["role"],
                    password=password,
                    email=options["email"],
                )
                raw_key = api_key_create(user=user, name="cli")[1] if options["api_key"] else None
        except AppError as exc:
            raise CommandError(exc.message) from exc
        if generated:
            self.stdout.write(f"password: {password}")
        self.stdout.write(raw_key if raw_key else str(user.pk))
