"""The approval-policy gate of the broker: what a call of a given risk needs before it is
made, decided outside the model from the run's scope (defaults tightened by the playbook)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from tools.registry import ToolDefinition


class ApprovalMode:
    """What a risk class's approval-policy rule does with a call, loosest first."""

    ALLOW = "allow"
    APPROVE = "approve"
    DRY_RUN_THEN_APPROVE = "dry_run_then_approve"
    DENY = "deny"


class ToolRefused(Exception):
    """The call may not be made at all: a protocol error, not a tool result.
    `code` is the API error code (`not_found` 404, `permission_denied` 403)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ApprovalGate:
    """What the policy gate found for one call that needs a person.

    `arguments` are the ones to call with once approved (an approver may have edited
    them); `request` the fields of an approval still to create; `pending`/`refusal` say
    the call waits or was turned down; `approval` is the decided row to mark executed."""

    arguments: Any = None
    approval: Any = None
    request: dict[str, Any] | None = None
    pending: Any = None
    refusal: str = ""
    mismatch: dict[str, Any] | None = None  # an approved payload changed behind its hash


def policy_rule(scope: Any, definition: ToolDefinition) -> dict[str, Any]:
    return scope.policy.get(definition.risk) or {"mode": ApprovalMode.DENY}


def approval_gate(
    *,
    run_id: Any,
    key: str,
    step_id: str,
    definition: ToolDefinition,
    arguments: Any,
    rule: dict,
) -> ApprovalGate:
    """The latest approval for this call decides: approved (the call goes ahead with the
    approved arguments, whose hash must still match), pending (wait), rejected, expired or
    cancelled (refused, with the reason). With none yet, a session grant for this tool in
    this run covers it (recorded as an approval of its own), or one is asked for."""
    from approvals.hashing import tool_call_body_hash
    from approvals.models import Approval, ApprovalKind, ApprovalStatus
    from approvals.services import approval_covered_by_session, approval_session_grant

    latest = Approval.objects.filter(call_key=key).order_by("-created_at").first()
    payload = {"tool": definition.name, "arguments": arguments}
    if latest is None and run_id is not None:
        grant = approval_session_grant(run_id=run_id, tool=definition.name)
        if grant is not None:
            covered = approval_covered_by_session(
                grant=grant, call_key=key, step=step_id, payload=payload
            )
            return ApprovalGate(arguments=arguments, approval=covered)
    if latest is None or latest.status == ApprovalStatus.UNDONE:
        return ApprovalGate(
            request={
                "kind": ApprovalKind.TOOL_CALL,
                "title": f"{definition.title} ({definition.risk})",
                "payload": payload,
                "tool": definition.name,
                "risk": definition.risk,
                "call_key": key,
                "step": step_id,
                "ttl_seconds": rule.get("ttl_seconds"),
            }
        )
    if latest.status == ApprovalStatus.PENDING:
        return ApprovalGate(pending=latest)
    if latest.status == ApprovalStatus.APPROVED:
        if latest.undo_until is not None and latest.undo_until > timezone.now():
            return ApprovalGate(pending=latest)  # the approver may still take it back
        approved = (latest.payload or {}).get("arguments")
        if (latest.payload or {}).get("tool") != definition.name or latest.body_hash != (
            tool_call_body_hash(tool=definition.name, arguments=approved)
        ):
            return _changed_after_approval(latest, definition, key, step_id, rule)
        return ApprovalGate(arguments=approved, approval=latest)
    if latest.status == ApprovalStatus.EXECUTED:
        return ApprovalGate(arguments=(latest.payload or {}).get("arguments"), approval=None)
    reason = f": {latest.reason}" if latest.reason else ""
    return ApprovalGate(refusal=f"The call was {latest.status} by a person{reason}.")


def _changed_after_approval(
    approved: Any, definition: ToolDefinition, key: str, step_id: str, rule: dict
) -> ApprovalGate:
    """The approve-X-send-Y race: what would be sent is not what was approved. Nothing is
    sent; a person reviews the payload as it now stands, in a new approval."""
    from approvals.hashing import approval_body_hash
    from approvals.models import ApprovalKind

    return ApprovalGate(
        request={
            "kind": ApprovalKind.TOOL_CALL,
            "title": f"{definition.title}: changed after it was approved; review it again",
            "payload": approved.payload,
            "tool": definition.name,
            "risk": definition.risk,
            "call_key": key,
            "step": step_id,
            "ttl_seconds": rule.get("ttl_seconds"),
        },
        mismatch={
            "approval": str(approved.pk),
            "approved_hash": approved.body_hash,
            "actual_hash": approval_body_hash(approved.payload),
        },
    )
