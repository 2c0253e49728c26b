"""Budgeted specs for tests: an agent whose scripted model keeps calling a tool, each model
call billed at exactly 0.10 USD (1,000 output tokens of a model priced 100 USD per million
output tokens, made here), reserving a little more (its input estimate at 1 USD/Mtok)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agentstudio.billing.models import ModelPrice
from agentstudio.billing.prices import price_cache

MODEL = "budget-test-model"
ECHO = "tools.studio.util.echo"
CALL_USD = Decimal("0.1")


def budget_price_make() -> ModelPrice:
    """The price the budget tests rely on (not the seeded dataset's)."""
    price, _ = ModelPrice.objects.update_or_create(
        provider="",
        model=MODEL,
        defaults={"input_usd_per_mtok": Decimal("1"), "output_usd_per_mtok": Decimal("100")},
    )
    price_cache.clear()
    return price


def agent_spec(*, tool_turns: int = 4, on_breach: str = "pause", **budget: Any) -> dict:
    """An agent step `work`: `tool_turns` model turns that each call echo, then `done`."""
    usage = {"input_tokens": 0, "output_tokens": 1000}
    responses: list[dict[str, Any]] = [
        {
            "step": "work",
            "tool_calls": [{"id": f"c{turn}", "name": ECHO, "arguments": {"value": turn}}],
            "usage": usage,
        }
        for turn in range(tool_turns)
    ]
    responses.append({"step": "work", "content": "done", "usage": usage})
    return {
        "name": "Budgeted agent",
        "tools": [ECHO],
        "model": {
            "provider": "scripted",
            "name": MODEL,
            "max_tokens": 1000,
            "responses": responses,
        },
        "budget": {"on_breach": on_breach, **budget},
        "steps": [
            {
                "id": "work",
                "agent": {
                    "instruction": "Echo until done.",
                    "allowed_tools": [ECHO],
                    "max_turns": 20,
                },
            }
        ],
        "outputs": {"said": "{{ steps.work.output }}"},
    }
