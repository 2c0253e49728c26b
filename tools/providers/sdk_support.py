"""What the two SDK-backed providers share: their configuration, the call-time API key
from the vault, SDK errors as a ModelProviderError, and token estimates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tools.providers.base import ModelProviderError, ModelToolCall

# The SDKs need some key; servers that take none (Ollama, vLLM, LM Studio) ignore it.
NO_KEY = "unused"


@dataclass(frozen=True)
class ProviderSettings:
    """One configured provider (a ModelProviderConfig row, or built by hand in tests)."""

    name: str
    kind: str
    base_url: str
    organization_id: Any = None
    api_key_secret: str = ""  # the NAME of a vault entry of the organization
    default_model: str = ""
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    max_retries: int = 2

    def api_key(self) -> str:
        """Resolved from the vault at call time (and from then on scrubbed from logs)."""
        if not self.api_key_secret:
            return NO_KEY
        from tools.vault import VaultError, vault_resolve

        try:
            return vault_resolve(organization_id=self.organization_id, name=self.api_key_secret)
        except VaultError as exc:
            raise ModelProviderError(
                f"Model provider {self.name!r}: its API key secret {self.api_key_secret!r} "
                f"cannot be read: {exc}."
            ) from exc


def provider_error(exc: Exception, config: ProviderSettings, *, secret: str) -> Exception:
    """An SDK failure as the step's error: what went wrong, naming the provider, never the
    key (scrubbed should a server echo it). Both SDKs share these exception names."""
    label = f"Model provider {config.name!r} ({config.kind}, {config.base_url})"
    kind = type(exc).__name__
    status = getattr(exc, "status_code", None)
    retries = config.max_retries
    if kind == "APITimeoutError":
        text = (
            f"{label} did not answer within {config.timeout_seconds:g} s (after {retries} retries)."
        )
    elif kind == "APIConnectionError":
        text = f"{label} could not be reached (after {retries} retries)."
    elif status in (401, 403):
        text = f"{label} refused the API key (HTTP {status}); check its vault secret."
    elif status == 429:
        text = f"{label} is rate limiting (HTTP 429) and still was after {retries} retries."
    elif status is not None and status >= 500:
        text = f"{label} failed (HTTP {status}) and still did after {retries} retries."
    elif status is not None:
        text = f"{label} refused the request (HTTP {status}): {_body_message(exc)}"
    else:
        text = f"{label} gave an answer that cannot be read ({kind})."
    if secret and secret != NO_KEY:
        text = text.replace(secret, "[secret]")
    return ModelProviderError(text)


def _body_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):  # openai gives the "error" object, anthropic the whole body
        error = body.get("error", body)
        message = error.get("message", "") if isinstance(error, dict) else str(error or "")
    return (message or getattr(exc, "message", "") or str(exc))[:500]


def malformed(config: ProviderSettings, what: str) -> ModelProviderError:
    return ModelProviderError(
        f"Model provider {config.name!r} ({config.kind}) gave a malformed answer: {what}."
    )


def tool_arguments(config: ProviderSettings, raw: Any, tool: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, json.JSONDecodeError):
        raise malformed(config, f"the arguments of its {tool!r} call are not JSON") from None
    if not isinstance(value, dict):
        raise malformed(config, f"the arguments of its {tool!r} call are not an object")
    return value


def tool_calls_from(
    config: ProviderSettings,
    raw: list[tuple[str, str, Any]],
    original_name: Any,
    *,
    id_prefix: str,
    unnamed: str,
) -> list[ModelToolCall]:
    """The model's tool calls `(id, wire name, arguments)` under their studio names; a call
    without a name is a malformed answer (`unnamed` says which, e.g. "tool call {n}")."""
    calls = []
    for index, (call_id, name, arguments) in enumerate(raw):
        if not name:
            raise malformed(config, f"{unnamed.format(n=index + 1)} has no name")
        original = original_name(name)
        calls.append(
            ModelToolCall(
                id=call_id or f"{id_prefix}{index}",
                name=original,
                arguments=tool_arguments(config, arguments, original),
            )
        )
    return calls


def estimate_tokens(value: Any) -> int:
    """Characters / 4: what a stream that ended without usage is counted as. (tiktoken
    would be closer for OpenAI models, but it downloads its encodings on first use, which
    this installation cannot do; and no tokenizer fits every model behind a base URL.)"""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4) if text else 0
