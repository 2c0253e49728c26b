"""What a tool call hands back: the result (MCP-shaped), its error and approval forms, and
the exception for a call whose outcome is unknown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentstudio.json_encoding import json_dumps
from approvals.models import ApprovalStatus
from tools.context import WrittenFile
from tools.policy import ApprovalGate


class ToolOutcomeUnknown(Exception):
    """A non-idempotent call was started before a crash and may or may not have happened."""

    def __init__(self, invocation: Any) -> None:
        super().__init__(f"outcome of {invocation.key} is unknown")
        self.invocation = invocation


@dataclass
class ToolCallResult:
    name: str
    key: str
    structured: Any
    is_error: bool
    text: str
    invocation: Any  # tools.models.ToolInvocation, saved by the caller's checkpoint
    written: list[WrittenFile] = field(default_factory=list)
    duration_ms: float = 0.0
    replayed: bool = False  # True when an earlier succeeded invocation was returned
    approval_request: dict[str, Any] | None = None  # an approval to create; not made
    approval_pending: Any = None  # the pending approval it waits for; not made
    approval_mismatch: dict[str, Any] | None = None  # approved payload changed; not made
    # The model calls the tool made (tools.studio.ai.*): totals and one entry per call, as
    # tools.ai_services.model_access.model_usage_summary gives them; None when it made none.
    model_usage: dict[str, Any] | None = None
    # the budget charge was left to the caller's commit (`tool_call(charge_at_commit=True)`)
    charge_deferred: bool = False

    def as_mcp(self) -> dict[str, Any]:
        return {
            "content": [{"type": "text", "text": self.text}],
            "structuredContent": self.structured,
            "isError": self.is_error,
        }


def error_result(name: str, key: str, message: str, invocation: Any) -> ToolCallResult:
    return ToolCallResult(
        name=name,
        key=key,
        structured={"error": message},
        is_error=True,
        text=message,
        invocation=invocation,
    )


def result_text(structured: Any) -> str:
    try:
        text = json_dumps(structured)
    except orjson.JSONEncodeError:  # a lone surrogate: escaped; the checkpoint refuses it
        text = json.dumps(structured, default=str)
    return text if len(text) <= 16_384 else text[:16_384] + " …[truncated]"


def awaiting_approval_result(
    name: str, key: str, invocation: Any, gate: ApprovalGate
) -> ToolCallResult:
    """Not made: a person decides first. The caller creates the approval (in its own
    transaction: the engine's checkpoint, or the API's request)."""
    pending = gate.pending
    structured = (
        {"approval_id": str(pending.pk), "status": ApprovalStatus.PENDING}
        if pending is not None
        else {"status": "approval_required"}
    )
    return ToolCallResult(
        name=name,
        key=key,
        structured=structured,
        is_error=True,
        text=f"{name} waits for a person's approval.",
        invocation=invocation,
        approval_request=gate.request,
        approval_pending=pending,
        approval_mismatch=gate.mismatch,
    )
