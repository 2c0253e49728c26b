"""What approvals' decisions do to tool calls made through POST /tools/call/ (no run step
waits for them), and the inputSchema check of an approver's edited arguments; registered
with approvals.effects from ToolsConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from approvals.effects import (
    TOOL_ARGUMENTS_PROBLEMS,
    approval_effect_register,
    approval_hook_register,
)
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.services import approval_in_undo_window
from tools.broker import tool_arguments_problems


def api_call_decided(*, approval: Approval, actor: Any, window_closed: bool) -> None:
    """Its run never paused for it. Approved (and past any undo window), the broker makes
    the call after the decision commits; otherwise it is simply not made."""
    if approval_in_undo_window(approval):
        return  # approvals looks at it again when the window closes
    if approval.status == ApprovalStatus.APPROVED:
        from tools.tasks import tool_call_execute_approved_task  # tasks import the services

        approval_id = str(approval.pk)
        transaction.on_commit(lambda: tool_call_execute_approved_task.delay(approval_id))


def api_call_reopened(*, undone: Approval, reopened: Approval, actor: Any) -> None:
    """Undone inside its window: the call was not made, and no run step is waiting to be
    told; the reopened approval is decided like the first."""


def call_approval_effects_register() -> None:
    approval_effect_register(
        kinds=(ApprovalKind.TOOL_CALL,),
        api_call=True,
        decided=api_call_decided,
        reopened=api_call_reopened,
    )
    approval_hook_register(name=TOOL_ARGUMENTS_PROBLEMS, handler=tool_arguments_problems)
