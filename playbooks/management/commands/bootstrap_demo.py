"""`manage.py bootstrap_demo`: the demo organization, admin and active playbooks (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from playbooks.demo import demo_bootstrap


class Command(BaseCommand):
    help = "Create the demo organization with credit, an admin user and active demo playbooks."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_bootstrap()
        for slug in result.activated:
            self.stdout.write(f"activated demo playbook {slug}")
        if result.admin_password:
            self.stdout.write(
                f"admin login: username {result.admin_username} "
                f"password {result.admin_password}  (shown once; change it in the admin)"
            )
        else:
            self.stdout.write(f"admin user {result.admin_username!r} already exists")
        self.stdout.write(f"demo organization {result.organization.name!r} ready")
