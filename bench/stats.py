"""Small statistics helpers (milliseconds in, milliseconds out)."""

from __future__ import annotations

import math
import statistics
from datetime import datetime


def ms_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000.0


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 200 values is the 190th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "median": median(values),
        "p95": percentile(values, 95),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
