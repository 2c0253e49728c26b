"""Writes usage records: one per model call or tool call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agentstudio.billing.models import UsageKind, UsageRecord


def usage_record_add(
    *,
    organization_id: Any,
    kind: str,
    run_id: Any = None,
    playbook_id: Any = None,
    step_id: str = "",
    user_id: Any = None,
    provider: str = "",
    model: str = "",
    tool: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    usd: Decimal = Decimal("0"),
    wall_seconds: float = 0.0,
    usage_estimated: bool = False,
    price_fallback: bool = False,
    scripted: bool = False,
) -> UsageRecord:
    if kind not in UsageKind.values:
        raise ValueError(f"usage kind must be one of {UsageKind.values}, not {kind!r}")
    return UsageRecord.objects.create(
        organization_id=organization_id,
        kind=kind,
        run_id=run_id,
        playbook_id=playbook_id,
        step_id=step_id,
        user_id=user_id,
        provider=provider,
        model=model,
        tool=tool,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        usd=usd,
        wall_seconds=wall_seconds,
        usage_estimated=usage_estimated,
        price_fallback=price_fallback,
        scripted=scripted,
    )
