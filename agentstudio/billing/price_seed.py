"""The price table seeded from the `genai-prices` dataset bundled in the installed (pinned)
package, never fetched: a row per (provider, model) the dataset prices per million tokens,
plus an any-provider row (`provider=""`) per model id. Rows an admin edited (source
`admin`) are never overwritten.

Choices the dataset leaves open:
- A price that changes over time (a list of conditional prices) is taken as it stands when
  the seed runs; a tiered price (more per token past a prompt size) is taken at its base
  tier. Prices are rounded to the table's 6 decimals (USD per million tokens).
- A model with no input price per million tokens (audio, image, per-request models) is
  skipped; one without an output price (embeddings) gets output 0.
- The any-provider row of a model id is the provider genai-prices itself picks for the
  bare name (the first whose `model_match` matches it, e.g. `openai` for `gpt-4o-mini`,
  `anthropic` for `claude-*`) when that provider lists the id, else the first provider in
  the dataset's order that lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from agentstudio.billing.models import ModelPrice, PriceSource
from agentstudio.billing.prices import price_cache

SIX_PLACES = Decimal("0.000001")
PRICE_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok")


@dataclass(frozen=True)
class SeedCounts:
    created: int
    updated: int
    unchanged: int
    kept_admin: int

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.kept_admin} admin-edited kept"
        )


def _usd(value: Any) -> Decimal | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # TieredPrices: the base tier
    return Decimal(base).quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


Prices = dict[str, Decimal | None]


def dataset_prices(*, at: datetime | None = None) -> dict[tuple[str, str], Prices]:
    """{(provider, model): prices} from the bundled dataset, any-provider rows included."""
    from genai_prices.data import providers

    at = at or datetime.now(tz=UTC)
    rows: dict[tuple[str, str], Prices] = {}
    listed_by: dict[str, list[str]] = {}
    for provider in providers:
        for model in provider.models:
            prices = model.get_prices(at)
            input_usd = _usd(getattr(prices, "input_mtok", None))
            if input_usd is None or (provider.id, model.id) in rows:
                continue
            rows[(provider.id, model.id)] = {
                "input_usd_per_mtok": input_usd,
                "output_usd_per_mtok": _usd(getattr(prices, "output_mtok", None)) or Decimal("0"),
                "cached_input_usd_per_mtok": _usd(getattr(prices, "cache_read_mtok", None)),
            }
            listed_by.setdefault(model.id, []).append(provider.id)
    for model_id, provider_ids in listed_by.items():
        home = next(
            (
                p.id
                for p in providers
                if p.model_match is not None and p.model_match.is_match(model_id.lower())
            ),
            None,
        )
        chosen = home if home in provider_ids else provider_ids[0]
        rows[("", model_id)] = rows[(chosen, model_id)]
    return rows


def prices_seed_from_dataset(*, price_model: Any = None) -> SeedCounts:
    """Upserts the dataset's prices (source `genai-prices`), keeping admin-edited rows.
    `price_model` is the ModelPrice class to write (a data migration passes its historical
    model)."""
    model = price_model or ModelPrice
    wanted = dataset_prices()
    now = timezone.now()
    with transaction.atomic():
        existing = {
            (row.provider, row.model): row for row in model.objects.select_for_update().all()
        }
        create, update = [], []
        unchanged = kept = 0
        for (provider, model_id), prices in wanted.items():
            row = existing.get((provider, model_id))
            if row is None:
                create.append(
                    model(
                        provider=provider, model=model_id, source=PriceSource.GENAI_PRICES, **prices
                    )
                )
            elif row.source == PriceSource.ADMIN:
                kept += 1
            elif all(getattr(row, name) == prices[name] for name in PRICE_FIELDS):
                unchanged += 1
            else:
                for name in PRICE_FIELDS:
                    setattr(row, name, prices[name])
                row.updated_at = now  # bulk_update does not apply auto_now
                update.append(row)
        model.objects.bulk_create(create, batch_size=1000)
        model.objects.bulk_update(update, [*PRICE_FIELDS, "updated_at"], batch_size=1000)
    price_cache.clear()
    return SeedCounts(
        created=len(create), updated=len(update), unchanged=unchanged, kept_admin=kept
    )


def price_set_by_admin(*, price: ModelPrice) -> ModelPrice:
    """An admin's edit: saved as source `admin` (a later seed keeps it) and in force at once
    in this process (others within the cache's few seconds)."""
    price.source = PriceSource.ADMIN
    price.save()
    price_cache.clear()
    return price
