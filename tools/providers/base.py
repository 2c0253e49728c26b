"""What every model provider speaks: the request the engine makes, the reply it gets, the
error it fails with, and the protocol a provider implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings

from agentstudio.billing.prices import PriceQuote, model_call_usd
from tools.context import ToolExecutionError

# The key under which an llm step hands its `output_schema` to the provider inside the
# model spec it passes (the spec's own `model:` cannot carry it: the schema refuses it).
RESPONSE_SCHEMA_KEY = "_response_schema"


class ModelProviderError(ToolExecutionError):
    """The provider could not give a reply (none left, not configured, unreachable, refused,
    timed out, malformed). Its message names the provider and never holds a secret."""


@dataclass(frozen=True)
class ModelToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ModelReply:
    content: Any
    tool_calls: list[ModelToolCall] = field(default_factory=list)
    input_tokens: int = 0  # cached input tokens included, as both APIs report them
    output_tokens: int = 0
    model: str = ""
    provider: str = ""
    scripted: bool = False
    cached_input_tokens: int = 0
    usage_estimated: bool = False  # a stream that ended without usage: characters / 4
    streamed: bool = False
    wall_seconds: float = 0.0
    finish_reason: str = ""
    provider_kind: str = ""  # "scripted", "openai" or "anthropic"

    def price(self) -> PriceQuote:
        """The call's cost from the price table (provider kind and model), flagged when the
        model had no price and the configured fallback applied."""
        return model_call_usd(
            provider=self.provider_kind or self.provider,
            model=self.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
        )

    def usd(self) -> Decimal:
        return self.price().usd


def model_max_output_tokens(model: dict[str, Any]) -> int:
    """The most output a call of this model spec may produce (`max_tokens`, else the
    configured default): what the request asks for, and what a budget reserves."""
    return int(model.get("max_tokens") or settings.AGENTSTUDIO_DEFAULT_MAX_OUTPUT_TOKENS)


@dataclass(frozen=True)
class ModelRequest:
    model: dict[str, Any]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    step_id: str
    turn: int  # model calls already made in this step attempt
    run_call_index: int  # model calls already made in this run

    @property
    def max_tokens(self) -> int:
        return model_max_output_tokens(self.model)

    @property
    def temperature(self) -> float | None:
        value = self.model.get("temperature")
        return None if value is None else float(value)

    @property
    def stream(self) -> bool:
        return bool(self.model.get("stream"))

    @property
    def response_schema(self) -> dict[str, Any] | None:
        """The llm step's `output_schema`, which the reply must match (or None)."""
        return self.model.get(RESPONSE_SCHEMA_KEY) or None


class ModelProvider(Protocol):
    name: str

    def complete(self, request: ModelRequest) -> ModelReply: ...
