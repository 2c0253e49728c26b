"""OpenAI-compatible Chat Completions on the official `openai` package: OpenAI, Azure OpenAI
(its v1 endpoint), vLLM, Ollama, LM Studio and a LiteLLM proxy, by base URL alone.

Retries are the SDK's: 408/409/429/5xx and connection errors and timeouts, `max_retries`
times, with jittered exponential backoff, honouring `Retry-After` (up to two minutes)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import openai

from tools.providers.base import ModelProviderError, ModelReply, ModelRequest, ModelToolCall
from tools.providers.messages import ToolNames, openai_messages, openai_tools
from tools.providers.sdk_support import (
    ProviderSettings,
    estimate_tokens,
    malformed,
    provider_error,
    tool_calls_from,
)

# OpenAI itself (and Azure) want `max_completion_tokens` (reasoning models refuse
# `max_tokens`); the servers that copy the API accept `max_tokens` everywhere.
_COMPLETION_TOKENS_HOSTS = ("api.openai.com", ".openai.azure.com")


class OpenAIChatProvider:
    kind = "openai"

    def __init__(self, config: ProviderSettings) -> None:
        self.config = config
        self.name = config.name

    def _params(self, request: ModelRequest, model: str, names: ToolNames) -> dict[str, Any]:
        host = urlparse(self.config.base_url).hostname or ""
        limit = "max_completion_tokens" if host.endswith(_COMPLETION_TOKENS_HOSTS) else "max_tokens"
        params: dict[str, Any] = {
            "model": model,
            "messages": openai_messages(request.messages),
            limit: request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = openai_tools(request.tools)
            params["parallel_tool_calls"] = True
        if request.response_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "output",
                    "schema": request.response_schema,
                    "strict": False,
                },
            }
        if request.stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    def complete(self, request: ModelRequest) -> ModelReply:
        model = str(request.model.get("name") or self.config.default_model)
        if not model:
            raise ModelProviderError(
                f"Model provider {self.name!r} has no default model and the spec names none."
            )
        names = ToolNames(request.tools)
        params = self._params(request, model, names)
        key = self.config.api_key()
        started = time.monotonic()
        try:
            with openai.OpenAI(
                base_url=self.config.base_url,
                api_key=key,
                timeout=openai.Timeout(
                    self.config.timeout_seconds, connect=self.config.connect_timeout_seconds
                ),
                max_retries=self.config.max_retries,
            ) as client:
                response = client.chat.completions.create(**params)
                if request.stream:
                    reply = self._streamed(response, params, names)
                else:
                    reply = self._whole(response, names)
        except ModelProviderError:
            raise
        except openai.OpenAIError as exc:
            raise provider_error(exc, self.config, secret=key) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise malformed(self.config, f"{type(exc).__name__}: {exc}"[:300]) from None
        reply.model = reply.model or model
        reply.provider, reply.provider_kind = self.name, self.kind
        reply.wall_seconds = time.monotonic() - started
        return reply

    def _calls(self, raw: list[tuple[str, str, Any]], names: ToolNames) -> list[ModelToolCall]:
        return tool_calls_from(
            self.config, raw, names.original, id_prefix="call_", unnamed="tool call {n}"
        )

    def _whole(self, response: Any, names: ToolNames) -> ModelReply:
        if not getattr(response, "choices", None):
            raise malformed(self.config, "no choices")
        choice = response.choices[0]
        message = choice.message
        raw = [
            (call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or []
            if getattr(call, "function", None) is not None
        ]
        usage = response.usage
        if usage is None:
            raise malformed(self.config, "no usage")
        details = getattr(usage, "prompt_tokens_details", None)
        return ModelReply(
            content=message.content or "",
            tool_calls=self._calls(raw, names),
            input_tokens=int(usage.prompt_tokens or 0),
            output_tokens=int(usage.completion_tokens or 0),
            cached_input_tokens=int(getattr(details, "cached_tokens", 0) or 0),
            model=response.model or "",
            finish_reason=choice.finish_reason or "",
        )

    def _streamed(self, stream: Any, params: dict[str, Any], names: ToolNames) -> ModelReply:
        """Content and tool-call fragments accumulated; usage from the final chunk, else
        estimated and flagged."""
        content: list[str] = []
        calls: dict[int, list[Any]] = {}
        usage = None
        finish_reason = ""
        model = ""
        chunks = 0
        for chunk in stream:
            chunks += 1
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta is not None and delta.content:
                    content.append(delta.content)
                for fragment in (delta.tool_calls if delta is not None else None) or []:
                    call = calls.setdefault(fragment.index, ["", "", ""])
                    call[0] = fragment.id or call[0]
                    if fragment.function is not None:
                        call[1] += fragment.function.name or ""
                        call[2] += fragment.function.arguments or ""
                finish_reason = choice.finish_reason or finish_reason
        if not chunks:
            raise malformed(self.config, "the stream had no events")
        text = "".join(content)
        raw = [tuple(calls[index]) for index in sorted(calls)]
        reply = ModelReply(
            content=text,
            tool_calls=self._calls(raw, names),  # type: ignore[arg-type]
            model=model,
            streamed=True,
            finish_reason=finish_reason,
        )
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            reply.input_tokens = int(usage.prompt_tokens or 0)
            reply.output_tokens = int(usage.completion_tokens or 0)
            reply.cached_input_tokens = int(getattr(details, "cached_tokens", 0) or 0)
        else:
            reply.input_tokens = estimate_tokens(params["messages"]) + estimate_tokens(
                params.get("tools") or ""
            )
            reply.output_tokens = estimate_tokens(text) + sum(
                estimate_tokens(call[1] + call[2]) for call in raw
            )
            reply.usage_estimated = True
        return reply
