"""Who may decide, and whether an approval can still be decided, with the reason given."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from agentstudio.accounts.models import Role
from agentstudio.accounts.roles import can_decide_approvals, user_membership
from agentstudio.errors import AppError, ErrorCode
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.risk import RiskClass
from approvals.rules import approval_rules_refusal

REASON_MAX_LENGTH = 2000


def approval_assert_can_decide(*, approval: Approval, actor: AbstractUser) -> None:
    """Approvers and admins of the organization; admin-class tools only by admins; then the
    approval's own rules (approvers, exclude_requester, escalate_to: approvals.rules)."""
    membership = user_membership(actor)
    if membership is None or membership.organization_id != approval.organization_id:
        raise AppError(ErrorCode.NOT_FOUND, "Not found.")
    if not can_decide_approvals(actor):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only approvers and admins decide approvals.")
    if (
        approval.risk == RiskClass.ADMIN
        and approval.kind == ApprovalKind.TOOL_CALL
        and (membership.role != Role.ADMIN)
    ):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Admin-class tool calls need an admin.")
    if approval.kind == ApprovalKind.PROMOTION and approval.requested_by_id == actor.pk:
        raise AppError(
            ErrorCode.PERMISSION_DENIED,
            "You requested this promotion; another approver must decide it.",
        )
    refusal = approval_rules_refusal(approval, membership)
    if refusal is not None:
        raise AppError(ErrorCode.PERMISSION_DENIED, refusal)


def approval_assert_pending(approval: Approval) -> None:
    if approval.status == ApprovalStatus.EXPIRED or (
        approval.status == ApprovalStatus.PENDING and approval.expires_at <= timezone.now()
    ):
        raise AppError(ErrorCode.EXPIRED, "This approval expired; it can no longer be decided.")
    if approval.status != ApprovalStatus.PENDING:
        raise AppError(ErrorCode.INVALID_STATE, f"This approval is already {approval.status}.")


def approval_locked_for_decision(approval: Approval) -> Approval:
    """Inside the caller's transaction: the row, locked, and still decidable."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    approval_assert_pending(locked)
    return locked


def approval_reason_checked(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A reason is required.",
            details=[{"path": "/reason", "message": "required"}],
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The reason is over {REASON_MAX_LENGTH} characters.",
            details=[{"path": "/reason", "message": "too long"}],
        )
    return reason


def dry_run_blocker(dry_run: Any) -> str:
    """Why the dry run says the call cannot succeed, or "" when it does not say so. The
    tools' dry runs report it as `ok: false` or `refused` (the HTTP dry run: the host does
    not resolve, or is private). A dry run that failed itself (`error`) says nothing about
    the call: it is shown, and does not block."""
    if not isinstance(dry_run, dict):
        return ""
    if dry_run.get("refused"):
        return f"refused: {dry_run['refused']}"
    if dry_run.get("ok") is False:
        return str(dry_run.get("reason") or "the dry run reports ok: false")
    return ""


def approval_assert_dry_run_passes(approval: Approval) -> None:
    """A payload whose dry run says the call cannot succeed is not approved as it stands
    (in the admin, in bulk, over REST): the approver edits it or rejects it."""
    blocker = dry_run_blocker(approval.dry_run)
    if blocker:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The dry run shows this call cannot succeed ({blocker}); edit or reject it.",
            details=[{"path": "/dry_run", "message": blocker}],
        )
