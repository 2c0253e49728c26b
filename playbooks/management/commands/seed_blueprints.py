"""`manage.py seed_blueprints`: loads the blueprint catalogue (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from playbooks.blueprint_loader import BlueprintFileError, blueprints_seed


class Command(BaseCommand):
    help = "Load playbooks/blueprints/*.yaml into the catalogue; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = blueprints_seed()
        except BlueprintFileError as exc:
            raise CommandError(str(exc)) from exc
        for slug in result.created:
            self.stdout.write(f"created {slug}")
        for slug in result.updated:
            self.stdout.write(f"updated {slug}")
        total = len(result.created) + len(result.updated) + len(result.unchanged)
        self.stdout.write(
            f"{total} blueprints: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged"
        )
