"""Model providers behind one interface; the offline `scripted` provider ships here.

`scripted` replays the responses a spec declares (`model.responses`), reports token usage as
if the named model had answered (so prices and budgets apply), and marks every reply
scripted. `default` means the configured default provider, or `scripted` when none is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings

from tools.context import ToolExecutionError


class ModelProviderError(ToolExecutionError):
    """The provider could not give a reply (none left, not configured, unreachable)."""


@dataclass(frozen=True)
class ModelToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ModelReply:
    content: Any
    tool_calls: list[ModelToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    provider: str = ""
    scripted: bool = False
    cached_input_tokens: int = 0
    usage_estimated: bool = False
    streamed: bool = False
    wall_seconds: float = 0.0

    def usd(self) -> Decimal:
        return model_price_usd(
            model=self.model, input_tokens=self.input_tokens, output_tokens=self.output_tokens
        )


@dataclass(frozen=True)
class ModelRequest:
    model: dict[str, Any]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    step_id: str
    turn: int  # model calls already made in this step attempt
    run_call_index: int  # model calls already made in this run


class ModelProvider(Protocol):
    name: str

    def complete(self, request: ModelRequest) -> ModelReply: ...


def model_price_usd(*, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    prices = settings.AGENTSTUDIO_MODEL_PRICES.get(model)
    if not prices:
        return Decimal("0")
    return (
        Decimal(prices["input"]) * input_tokens / 1000
        + Decimal(prices["output"]) * output_tokens / 1000
    )


def _estimate_tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


class ScriptedProvider:
    """Replies in declared order: the n-th response tagged with this step for the step's n-th
    call, else the next untagged response for the run's n-th untagged call."""

    name = "scripted"

    def complete(self, request: ModelRequest) -> ModelReply:
        responses = request.model.get("responses") or []
        response = self._pick(responses, request)
        if isinstance(response, str):
            response = {"content": response}
        usage = response.get("usage") or {}
        calls = [
            ModelToolCall(
                id=str(call.get("id") or f"call_{request.turn}_{index}"),
                name=call["name"],
                arguments=call.get("arguments") or {},
            )
            for index, call in enumerate(response.get("tool_calls") or [])
        ]
        prompt_tokens = sum(_estimate_tokens(m.get("content", "")) for m in request.messages)
        content = response.get("content", "")
        return ModelReply(
            content=content,
            tool_calls=calls,
            input_tokens=int(usage.get("input_tokens", prompt_tokens)),
            output_tokens=int(usage.get("output_tokens", _estimate_tokens(content))),
            model=str(request.model.get("name", "")),
            provider=self.name,
            scripted=True,
        )

    def _pick(self, responses: list[Any], request: ModelRequest) -> Any:
        tagged = [r for r in responses if isinstance(r, dict) and r.get("step") == request.step_id]
        if tagged:
            if request.turn < len(tagged):
                return tagged[request.turn]
            raise ModelProviderError(
                f"The scripted model has no response left for step {request.step_id!r} "
                f"(call {request.turn + 1}; {len(tagged)} declared)."
            )
        untagged = [r for r in responses if not (isinstance(r, dict) and r.get("step"))]
        if request.run_call_index < len(untagged):
            return untagged[request.run_call_index]
        raise ModelProviderError(
            f"The scripted model has no response for step {request.step_id!r}: declare one in "
            "model.responses with `step: " + request.step_id + "`."
        )


def provider_for(model: dict[str, Any]) -> ModelProvider:
    name = model.get("provider") or "default"
    if name == "default":
        name = settings.AGENTSTUDIO_DEFAULT_MODEL_PROVIDER or "scripted"
    if name == "scripted":
        return ScriptedProvider()
    raise ModelProviderError(
        f"Model provider {name!r} is not configured on this studio; use `provider: scripted` "
        "or configure a provider."
    )
