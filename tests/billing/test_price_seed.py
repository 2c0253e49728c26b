"""The price table is seeded from the bundled genai-prices dataset (by the migration, and
again by `manage.py seed_prices`); an admin's edit survives a re-seed."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from genai_prices.data import providers

from agentstudio.billing.models import ModelPrice, PriceSource
from agentstudio.billing.price_seed import price_set_by_admin, prices_seed_from_dataset
from agentstudio.billing.prices import model_call_usd, model_rates, price_cache


@pytest.fixture(autouse=True)
def _seeded(db):
    """The migration seeds the table, but a transactional test elsewhere in this worker may
    have flushed it: seed (a no-op on a seeded table) and read the table afresh."""
    prices_seed_from_dataset()
    price_cache.clear()


def _dataset(provider_id: str, model_id: str):
    provider = next(p for p in providers if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    return model.get_prices(datetime.now(tz=UTC))


def _rates_equal_dataset(provider: str, model: str, dataset_provider: str) -> None:
    price_cache.clear()
    expected = _dataset(dataset_provider, model)
    rates = model_rates(provider=provider, model=model)
    assert rates.fallback is False
    assert rates.input == expected.input_mtok
    assert rates.output == expected.output_mtok
    assert rates.cached_input == expected.cache_read_mtok


def test_the_migration_seeded_gpt_4o_mini_and_an_anthropic_model_at_the_datasets_prices(db):
    _rates_equal_dataset("openai", "gpt-4o-mini", "openai")
    _rates_equal_dataset("anthropic", "claude-3-5-haiku-latest", "anthropic")
    _rates_equal_dataset("anthropic", "claude-haiku-4-5", "anthropic")
    # any provider: the model's home provider in the dataset (not google's or a reseller's)
    _rates_equal_dataset("", "gpt-4o-mini", "openai")
    _rates_equal_dataset("someproxy", "claude-haiku-4-5", "anthropic")
    assert ModelPrice.objects.get(provider="openai", model="gpt-4o-mini").source == "genai-prices"
    quote = model_call_usd(
        provider="openai", model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000
    )
    assert (quote.usd, quote.fallback) == (Decimal("0.75"), False)  # 0.15 + 0.60


def test_an_unknown_model_is_quoted_at_the_fallback_and_flagged(db, settings):
    settings.AGENTSTUDIO_FALLBACK_INPUT_USD_PER_MTOK = "10"
    settings.AGENTSTUDIO_FALLBACK_OUTPUT_USD_PER_MTOK = "30"
    price_cache.clear()
    quote = model_call_usd(
        provider="openai", model="no-such-model-9000", input_tokens=1000, output_tokens=1000
    )
    assert (quote.usd, quote.fallback) == (Decimal("0.04"), True)


def test_an_admin_edit_survives_a_reseed_and_the_command_prints_counts(db):
    row = ModelPrice.objects.get(provider="openai", model="gpt-4o-mini")
    row.input_usd_per_mtok = Decimal("9.5")
    price_set_by_admin(price=row)
    assert model_rates(provider="openai", model="gpt-4o-mini").input == Decimal("9.5")
    drifted = ModelPrice.objects.get(provider="anthropic", model="claude-haiku-4-5")
    ModelPrice.objects.filter(pk=drifted.pk).update(output_usd_per_mtok=Decimal("123"))

    out = StringIO()
    call_command("seed_prices", stdout=out)

    row.refresh_from_db()
    assert (row.source, row.input_usd_per_mtok) == (PriceSource.ADMIN, Decimal("9.5"))
    drifted.refresh_from_db()
    assert drifted.output_usd_per_mtok == Decimal("5")  # the dataset's again
    assert out.getvalue().strip() == (
        f"prices: 0 created, 1 updated, {ModelPrice.objects.count() - 2} unchanged, "
        "1 admin-edited kept"
    )
    counts = prices_seed_from_dataset()
    assert (counts.created, counts.updated, counts.kept_admin) == (0, 0, 1)
