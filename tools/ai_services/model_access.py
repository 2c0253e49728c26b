"""The model a model-backed tool may ask (`ToolContext.model`), and what its calls cost.

Inside a run the engine hands a ToolModel built on the run's model spec (so offline the
scripted provider answers with the responses the playbook declares, tagged by the step);
the REST AI services hand one built on the organization's AI-services provider. Every call
is counted in `calls`: the broker puts the totals in the result's `usage` (`_meta.usage`
over the API) and the engine adds them to the run's usage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from agentstudio.billing.budgets import (
    BudgetRef,
    budget_release,
    budget_reserve,
    budget_settle,
)
from agentstudio.billing.model_calls import model_request_most, model_usage_record_fields
from agentstudio.billing.models import BudgetHold
from tools.context import ToolExecutionError
from tools.providers.base import RESPONSE_SCHEMA_KEY, ModelProvider, ModelRequest


@dataclass(frozen=True)
class ModelCallUsage:
    """One model call a tool made."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    usd: Decimal
    price_fallback: bool
    scripted: bool
    usage_estimated: bool
    wall_seconds: float

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["usd"] = str(self.usd)
        data["wall_seconds"] = round(self.wall_seconds, 3)
        return data


def model_usage_summary(calls: list[ModelCallUsage]) -> dict[str, Any]:
    """The totals of a tool call's model calls, JSON-ready (`_meta.usage`)."""
    return {
        "model_calls": len(calls),
        "input_tokens": sum(call.input_tokens for call in calls),
        "output_tokens": sum(call.output_tokens for call in calls),
        "cached_input_tokens": sum(call.cached_input_tokens for call in calls),
        "usd": str(sum((call.usd for call in calls), Decimal("0"))),
        "calls": [call.as_json() for call in calls],
    }


@dataclass
class ToolModel:
    """One provider with one model spec, asked by one tool call.

    `provider` is resolved on the first call only (a tool that never asks a model never
    fails on a provider that is not configured). `step_id` tags the requests, which the
    scripted provider matches against `step:` in the spec's responses; `run_call_index`
    is the run's model calls before this tool call (for untagged scripted responses)."""

    provider_source: Callable[[], ModelProvider]
    model: dict[str, Any]
    step_id: str
    run_call_index: int = 0
    calls: list[ModelCallUsage] = field(default_factory=list)
    # Budget hooks (`budget_guard` sets them inside a run): `reserve(request, provider)`
    # runs before each model call and may raise to refuse it (BudgetExceeded pauses or fails
    # the run as any call that does not fit); `settle(reservation, usage)` runs after the
    # call with what `reserve` returned, and with usage None when the call failed.
    reserve: Callable[[ModelRequest, ModelProvider], Any] | None = None
    settle: Callable[[Any, ModelCallUsage | None], None] | None = None
    _provider: ModelProvider | None = None

    def complete(
        self, messages: list[dict[str, Any]], *, response_schema: dict[str, Any] | None = None
    ) -> Any:
        """The reply's content (text, or a JSON value from a scripted response)."""
        if self._provider is None:
            self._provider = self.provider_source()
        model = dict(self.model)
        if response_schema:
            model[RESPONSE_SCHEMA_KEY] = response_schema
        turn = len(self.calls)
        request = ModelRequest(
            model=model,
            messages=messages,
            tools=[],
            step_id=self.step_id,
            turn=turn,
            run_call_index=self.run_call_index + turn,
        )
        reservation = self.reserve(request, self._provider) if self.reserve is not None else None
        started = time.monotonic()
        try:
            reply = self._provider.complete(request)
        except BaseException:
            if self.settle is not None:
                self.settle(reservation, None)  # nothing was used: release it all
            raise
        price = reply.price()
        usage = ModelCallUsage(
            provider=reply.provider,
            model=reply.model,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached_input_tokens=reply.cached_input_tokens,
            usd=price.usd,
            price_fallback=price.fallback,
            scripted=reply.scripted,
            usage_estimated=reply.usage_estimated,
            wall_seconds=reply.wall_seconds or (time.monotonic() - started),
        )
        self.calls.append(usage)
        if self.settle is not None:
            self.settle(reservation, usage)
        return reply.content


def budget_guard(
    model: ToolModel, ref: BudgetRef, *, run_id: Any, record: dict[str, Any]
) -> ToolModel:
    """Puts `model`'s calls inside the budget `ref`, as the engine's own model calls are:
    each reserves its most before it is made and settles what it cost after, with its usage
    record (`record`: whose call it is, billing.model_calls.model_usage_record_fields)."""

    def reserve(request: ModelRequest, provider: ModelProvider) -> BudgetHold:
        usd, tokens = model_request_most(request, provider)
        return budget_reserve(ref, run_id=run_id, usd=usd, tokens=tokens)

    def settle(hold: BudgetHold, usage: ModelCallUsage | None) -> None:
        if usage is None:
            budget_release(hold)
            return
        budget_settle(
            hold,
            usd=usage.usd,
            tokens=usage.input_tokens + usage.output_tokens,
            record=model_usage_record_fields(
                record,
                provider=usage.provider,
                model=usage.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cached_input_tokens=usage.cached_input_tokens,
                usd=usage.usd,
                wall_seconds=usage.wall_seconds,
                usage_estimated=usage.usage_estimated,
                price_fallback=usage.price_fallback,
                scripted=usage.scripted,
            ),
        )

    model.reserve, model.settle = reserve, settle
    return model


def context_model(context: Any) -> ToolModel:
    """The model the call may ask; a clear error where the caller gave none."""
    model = getattr(context, "model", None)
    if model is None:
        raise ToolExecutionError(
            "No model is available to this tool call: call it from a playbook run (it uses "
            "the run's model) or through the AI services with a provider configured."
        )
    return model
