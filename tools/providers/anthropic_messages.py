"""Anthropic Messages on the official `anthropic` package: the system prompt as the `system`
parameter, tool_use / tool_result blocks (several tool_use blocks in one turn are parallel
calls), structured output through `output_config.format`, and streaming events whose usage
comes from `message_start` (input, cache reads) and `message_delta` (output).

Retries are the SDK's, as for OpenAI: 408/409/429/5xx, connection errors and timeouts,
`max_retries` times with jittered exponential backoff, honouring `Retry-After`."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic

from tools.providers.base import ModelProviderError, ModelReply, ModelRequest, ModelToolCall
from tools.providers.messages import ToolNames, anthropic_messages, anthropic_tools
from tools.providers.sdk_support import (
    ProviderSettings,
    estimate_tokens,
    malformed,
    provider_error,
    tool_calls_from,
)


def _input_tokens(usage: Any) -> tuple[int, int]:
    """(all input tokens, cached ones): Anthropic counts cache reads and writes apart from
    `input_tokens`; both are input the call was given, so they are added in."""
    plain = int(getattr(usage, "input_tokens", 0) or 0)
    read = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
    written = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
    return plain + read + written, read


class AnthropicMessagesProvider:
    kind = "anthropic"

    def __init__(self, config: ProviderSettings) -> None:
        self.config = config
        self.name = config.name

    def _params(self, request: ModelRequest, model: str) -> dict[str, Any]:
        system, turns = anthropic_messages(request.messages)
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "messages": turns,
        }
        if system:
            params["system"] = system
        # No `temperature`: this SDK's Messages API no longer takes one (the spec's is used
        # by the OpenAI kind only).
        if request.tools:
            params["tools"] = anthropic_tools(request.tools)
        if request.response_schema:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": request.response_schema}
            }
        if request.stream:
            params["stream"] = True
        return params

    def complete(self, request: ModelRequest) -> ModelReply:
        model = str(request.model.get("name") or self.config.default_model)
        if not model:
            raise ModelProviderError(
                f"Model provider {self.name!r} has no default model and the spec names none."
            )
        names = ToolNames(request.tools)
        params = self._params(request, model)
        key = self.config.api_key()
        started = time.monotonic()
        try:
            with anthropic.Anthropic(
                base_url=self.config.base_url,
                api_key=key,
                timeout=anthropic.Timeout(
                    self.config.timeout_seconds, connect=self.config.connect_timeout_seconds
                ),
                max_retries=self.config.max_retries,
            ) as client:
                response = client.messages.create(**params)
                if request.stream:
                    reply = self._streamed(response, params, names)
                else:
                    reply = self._whole(response, names)
        except ModelProviderError:
            raise
        except anthropic.AnthropicError as exc:
            raise provider_error(exc, self.config, secret=key) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise malformed(self.config, f"{type(exc).__name__}: {exc}"[:300]) from None
        reply.model = reply.model or model
        reply.provider, reply.provider_kind = self.name, self.kind
        reply.wall_seconds = time.monotonic() - started
        return reply

    def _calls(self, raw: list[tuple[str, str, Any]], names: ToolNames) -> list[ModelToolCall]:
        return tool_calls_from(
            self.config, raw, names.original, id_prefix="toolu_", unnamed="tool_use block {n}"
        )

    def _whole(self, response: Any, names: ToolNames) -> ModelReply:
        blocks = getattr(response, "content", None)
        if blocks is None:
            raise malformed(self.config, "no content")
        text = "".join(block.text for block in blocks if block.type == "text")
        raw = [(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"]
        if getattr(response, "usage", None) is None:
            raise malformed(self.config, "no usage")
        input_tokens, cached = _input_tokens(response.usage)
        return ModelReply(
            content=text,
            tool_calls=self._calls(raw, names),
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=int(response.usage.output_tokens or 0),
            model=response.model or "",
            finish_reason=response.stop_reason or "",
        )

    def _streamed(self, stream: Any, params: dict[str, Any], names: ToolNames) -> ModelReply:
        """Text and tool_use input fragments accumulated per content block; usage from the
        stream's events, else estimated and flagged."""
        blocks: dict[int, dict[str, Any]] = {}
        start_usage = None
        output_tokens = None
        finish_reason = ""
        model = ""
        events = 0
        for event in stream:
            events += 1
            if event.type == "message_start":
                model = getattr(event.message, "model", "") or model
                start_usage = getattr(event.message, "usage", None)
            elif event.type == "content_block_start":
                block = event.content_block
                blocks[event.index] = {
                    "type": block.type,
                    "id": getattr(block, "id", ""),
                    "name": getattr(block, "name", ""),
                    "text": getattr(block, "text", "") or "",
                    "json": "",
                }
            elif event.type == "content_block_delta":
                block = blocks.setdefault(
                    event.index, {"type": "text", "id": "", "name": "", "text": "", "json": ""}
                )
                if event.delta.type == "text_delta":
                    block["text"] += event.delta.text
                elif event.delta.type == "input_json_delta":
                    block["json"] += event.delta.partial_json
            elif event.type == "message_delta":
                finish_reason = getattr(event.delta, "stop_reason", "") or finish_reason
                usage = getattr(event, "usage", None)
                if getattr(usage, "output_tokens", None) is not None:
                    output_tokens = int(usage.output_tokens)
        if not events:
            raise malformed(self.config, "the stream had no events")
        ordered = [blocks[index] for index in sorted(blocks)]
        text = "".join(b["text"] for b in ordered if b["type"] == "text")
        raw = [(b["id"], b["name"], b["json"] or "{}") for b in ordered if b["type"] == "tool_use"]
        reply = ModelReply(
            content=text,
            tool_calls=self._calls(raw, names),
            model=model,
            streamed=True,
            finish_reason=finish_reason,
        )
        if start_usage is not None and output_tokens is not None:
            reply.input_tokens, reply.cached_input_tokens = _input_tokens(start_usage)
            reply.output_tokens = output_tokens
        else:
            reply.input_tokens = estimate_tokens(
                json.dumps([params.get("system", ""), params["messages"]], default=str)
            ) + estimate_tokens(params.get("tools") or "")
            reply.output_tokens = estimate_tokens(text) + sum(
                estimate_tokens(call[1] + str(call[2])) for call in raw
            )
            reply.usage_estimated = True
        return reply
