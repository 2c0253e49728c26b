"""What a model call may cost before it is made (what a budget reserves for it), and the
usage record of one that was made: shared by the engine's model steps and the model-backed
tools, so both reserve and record a call the same way."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agentstudio.billing.models import UsageKind
from agentstudio.billing.prices import model_call_max_usd


def estimate_tokens(value: Any) -> int:
    """A request's tokens before it is sent: characters / 4 (at least one)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


def priced_as(provider: Any, model: dict[str, Any]) -> tuple[str, str]:
    """The provider kind and model name a call is priced as before it is made (the reply
    names them after): a configured provider's kind and default model fill in the spec's."""
    config = getattr(provider, "config", None)
    kind = getattr(provider, "kind", "") or getattr(provider, "name", "") or "scripted"
    name = str(model.get("name") or getattr(config, "default_model", "") or "")
    return str(kind), name


def model_request_most(request: Any, provider: Any) -> tuple[Decimal, int]:
    """The most `request` (a tools.providers ModelRequest) can cost, in USD and tokens: its
    estimated input at the input price and its max output tokens at the output price."""
    kind, name = priced_as(provider, request.model)
    input_estimate = estimate_tokens([m.get("content", "") for m in request.messages])
    if request.tools:
        input_estimate += estimate_tokens(request.tools)
    most_out = int(request.max_tokens)
    usd = model_call_max_usd(
        provider=kind, model=name, input_tokens=input_estimate, max_output_tokens=most_out
    )
    return usd, input_estimate + most_out


def model_usage_record_fields(
    base: dict[str, Any],
    *,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    usd: Decimal,
    wall_seconds: float,
    usage_estimated: bool,
    price_fallback: bool,
    scripted: bool,
) -> dict[str, Any]:
    """The fields of a model call's usage record (`usage_record_add`): `base` says whose
    call it was (organization, run, playbook, step, user, tool)."""
    return {
        **base,
        "kind": UsageKind.MODEL,
        "provider": provider,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "usd": usd,
        "wall_seconds": wall_seconds,
        "usage_estimated": usage_estimated,
        "price_fallback": price_fallback,
        "scripted": scripted,
    }
