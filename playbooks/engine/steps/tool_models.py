"""The model a step's tool calls may ask (tools.studio.ai.*), and what those calls used.

A tool step's tools ask the run's model spec with the step's id as the request's step (so
scripted responses tagged `step: <id>` answer them, in order); an agent's tool call asks
the agent's model spec tagged `<step id>:<call>` (e.g. `build:t0.1`), apart from the
agent's own turns. The model calls are the run's: they count in its usage (tokens, USD,
model calls) and each gets an `llm.called` event naming the tool."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from playbooks.engine.budget import run_budget_ref, run_usage_base
from playbooks.engine.outcome import Usage
from playbooks.engine.view import RunView
from tools.ai_services.model_access import ToolModel, budget_guard
from tools.call_results import ToolCallResult
from tools.providers.registry import provider_for


def step_tool_model(view: RunView, model: dict[str, Any], tag: str, step_id: str) -> ToolModel:
    """The model a step's tool may ask, its calls inside the run's budget (reserved before,
    settled with their usage records after, as the run's own model calls)."""
    run = view.run
    organization = run.organization_id
    tool_model = ToolModel(
        provider_source=lambda: provider_for(model, organization=organization),
        model=model,
        step_id=tag,
        run_call_index=run.model_calls,
    )
    return budget_guard(
        tool_model, run_budget_ref(run), run_id=run.pk, record=run_usage_base(run, step_id)
    )


def model_usage_of(result: ToolCallResult) -> tuple[Usage, list[tuple[str, dict[str, Any]]]]:
    """The usage and `llm.called` events of the model calls a tool call made (none for a
    replayed call: it made none)."""
    summary = result.model_usage
    if not summary or result.replayed:
        return Usage(), []
    calls = summary["calls"]
    usage = Usage(
        usd=Decimal(summary["usd"]),
        input_tokens=int(summary["input_tokens"]),
        output_tokens=int(summary["output_tokens"]),
        model_calls=len(calls),
    )
    events = [
        (
            "llm.called",
            {
                "model": call["model"],
                "provider": call["provider"],
                "scripted": call["scripted"],
                "input_tokens": call["input_tokens"],
                "output_tokens": call["output_tokens"],
                "cached_input_tokens": call["cached_input_tokens"],
                "usage_estimated": call["usage_estimated"],
                "usd": call["usd"],
                "price_fallback": call["price_fallback"],
                "tool": result.name,
                "key": result.key,
                "tool_calls": [],
            },
        )
        for call in calls
    ]
    return usage, events


def tool_model_usage(
    view: RunView, result: ToolCallResult
) -> tuple[Usage, list[tuple[str, dict[str, Any]]]]:
    """`model_usage_of` for a call made by a step; the run's model-call counter moves past
    the calls (the next untagged scripted response is the one after them)."""
    usage, events = model_usage_of(result)
    view.run.model_calls += usage.model_calls
    return usage, events
