"""The offline `scripted` provider: it replays the responses a spec declares
(`model.responses`), reports token usage as if the named model had answered (so prices and
budgets apply), and marks every reply scripted."""

from __future__ import annotations

import json
import time
from typing import Any

from tools.providers.base import ModelProviderError, ModelReply, ModelRequest, ModelToolCall


def _estimate_tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


class ScriptedProvider:
    """Replies in declared order: the n-th response tagged with this step for the step's n-th
    call, else the next untagged response for the run's n-th untagged call."""

    name = "scripted"

    def complete(self, request: ModelRequest) -> ModelReply:
        started = time.monotonic()
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
            provider_kind=self.name,
            scripted=True,
            wall_seconds=time.monotonic() - started,
            finish_reason="tool_calls" if calls else "stop",
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
