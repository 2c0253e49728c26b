"""What a model call costs: the price table (USD per million tokens), the configured fallback
for a model it does not know, and the most a call can cost before it is made."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from threading import Lock

from django.conf import settings

from agentstudio.billing.models import ModelPrice

MILLION = Decimal(1_000_000)
_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Rates:
    """USD per million tokens; `fallback` when the model had no row and the configured
    fallback applies."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    fallback: bool = False


@dataclass(frozen=True)
class PriceQuote:
    usd: Decimal
    fallback: bool


class _PriceCache:
    """Price rows held for a few seconds per process: a model call looks its price up without
    a query; an admin's edit applies within `_CACHE_SECONDS` (or at once after `clear`)."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._rows: dict[tuple[str, str], Rates] = {}
        self._loaded_at = -_CACHE_SECONDS

    def rows(self) -> dict[tuple[str, str], Rates]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= _CACHE_SECONDS:
                self._rows = {
                    (row.provider, row.model): Rates(
                        input=row.input_usd_per_mtok,
                        output=row.output_usd_per_mtok,
                        cached_input=(
                            row.input_usd_per_mtok
                            if row.cached_input_usd_per_mtok is None
                            else row.cached_input_usd_per_mtok
                        ),
                    )
                    for row in ModelPrice.objects.all()
                }
                self._loaded_at = time.monotonic()
            return self._rows

    def clear(self) -> None:
        with self._lock:
            self._loaded_at = -_CACHE_SECONDS


price_cache = _PriceCache()


def fallback_rates() -> Rates:
    return Rates(
        input=Decimal(str(settings.AGENTSTUDIO_FALLBACK_INPUT_USD_PER_MTOK)),
        output=Decimal(str(settings.AGENTSTUDIO_FALLBACK_OUTPUT_USD_PER_MTOK)),
        cached_input=Decimal(str(settings.AGENTSTUDIO_FALLBACK_INPUT_USD_PER_MTOK)),
        fallback=True,
    )


def model_rates(*, provider: str, model: str) -> Rates:
    """The provider's own row for the model, else the any-provider row, else the fallback."""
    rows = price_cache.rows()
    return rows.get((provider, model)) or rows.get(("", model)) or fallback_rates()


def model_call_usd(
    *,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
) -> PriceQuote:
    """The cost of a call that was made. Cached input tokens are part of `input_tokens` (as
    both APIs report them) and are billed at the cached rate."""
    rates = model_rates(provider=provider, model=model)
    cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
    usd = (
        rates.input * (max(input_tokens, 0) - cached)
        + rates.cached_input * cached
        + rates.output * max(output_tokens, 0)
    ) / MILLION
    return PriceQuote(usd=usd, fallback=rates.fallback)


def model_call_max_usd(
    *, provider: str, model: str, input_tokens: int, max_output_tokens: int
) -> Decimal:
    """The most a call can cost before it is made: its whole input at the full input rate
    and `max_output_tokens` of output."""
    rates = model_rates(provider=provider, model=model)
    return (rates.input * max(input_tokens, 0) + rates.output * max(max_output_tokens, 0)) / MILLION
