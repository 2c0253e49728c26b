"""What approvals needs of tools, registered from ToolsConfig.ready(): the inputSchema check
of an approver's edited tool-call arguments (an approvals hook), the inputSchema itself for
the page's editor, and the people-readable renderings of the built-in senders' payloads
(what a decision on a call does is the run's rule: playbooks registers it)."""

from __future__ import annotations

from typing import Any

from approvals.context import approval_renderer_register, approval_schema_source_register
from approvals.effects import TOOL_ARGUMENTS_PROBLEMS, approval_hook_register
from approvals.models import Approval, ApprovalKind
from tools.broker import tool_arguments_problems
from tools.registry import tool_registry


def _arguments(payload: Any) -> dict[str, Any] | None:
    arguments = payload.get("arguments") if isinstance(payload, dict) else None
    return arguments if isinstance(arguments, dict) else None


def http_post_view(payload: Any) -> dict[str, Any] | None:
    """tools.studio.http.post: the request it makes (the Idempotency-Key is the call's)."""
    arguments = _arguments(payload)
    if arguments is None:
        return None
    return {
        "kind": "request",
        "method": "POST",
        "url": arguments.get("url", ""),
        "headers": {"Content-Type": "application/json", **(arguments.get("headers") or {})},
        "body": arguments.get("json"),
    }


def notify_slack_view(payload: Any) -> dict[str, Any] | None:
    """tools.studio.notify.slack: the message as it would be posted."""
    arguments = _arguments(payload)
    if arguments is None or not isinstance(arguments.get("text"), str):
        return None
    return {"kind": "text", "text": arguments["text"], "to": arguments.get("channel") or ""}


def tool_call_input_schema(approval: Approval) -> dict[str, Any] | None:
    """The inputSchema of the tool a call approval would call: the arguments' editor."""
    if approval.kind != ApprovalKind.TOOL_CALL:
        return None
    definition = tool_registry.get(approval.tool or (approval.payload or {}).get("tool", ""))
    return definition.input_schema if definition is not None else None


def call_approval_effects_register() -> None:
    approval_hook_register(name=TOOL_ARGUMENTS_PROBLEMS, handler=tool_arguments_problems)
    approval_renderer_register("tools.studio.http.post", http_post_view)
    approval_renderer_register("tools.studio.notify.slack", notify_slack_view)
    approval_schema_source_register(tool_call_input_schema)
