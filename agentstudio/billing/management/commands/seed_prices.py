"""`manage.py seed_prices`: (re)seeds the price table from the bundled genai-prices dataset,
keeping rows an admin edited; prints the counts."""

from typing import Any

from django.core.management.base import BaseCommand

from agentstudio.billing.price_seed import prices_seed_from_dataset


class Command(BaseCommand):
    help = "Seed model prices (USD per million tokens) from the genai-prices dataset."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = prices_seed_from_dataset()
        self.stdout.write(f"prices: {counts}")
