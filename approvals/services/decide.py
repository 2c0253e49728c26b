"""Deciding an approval: approve (hash-bound, optionally edited, single or batch), reject,
cancel, and marking an approved call executed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from approvals.hashing import approval_body_hash
from approvals.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalScope,
    ApprovalStatus,
)
from approvals.rules import approval_required_approvals
from approvals.services.checks import (
    approval_assert_can_decide,
    approval_assert_dry_run_passes,
    approval_locked_for_decision,
    approval_reason_checked,
    dry_run_blocker,
)
from approvals.services.edit import approval_edited_payload_checked
from approvals.services.expiry import approval_expire_if_overdue
from approvals.services.recording import approval_decision_record, approval_effect_apply
from approvals.services.scopes import approval_scope_checked
from approvals.services.undo import approval_undo_until
from approvals.services.votes import (
    approval_scope_checked_for_votes,
    approval_vote_counts_to_approval,
    approval_votes_reset,
)


def approval_approve(
    *,
    approval: Approval,
    actor: AbstractUser,
    body_hash: str,
    reason: str = "",
    payload: Any = None,
    scope: str | None = None,
) -> Approval:
    """Approves the payload whose hash the approver saw; 409 if it changed, 410 if expired.
    Where the rules require several approvers, it is a vote until enough approved the
    same hash (approvals.services.votes); the row stays pending until then."""
    approval_assert_can_decide(approval=approval, actor=actor)
    if approval.kind == ApprovalKind.QUESTION:
        # Approving would complete the step with no answer, past the question's schema.
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A question is answered, not approved: "
            f"POST /api/v1/approvals/{approval.pk}/answer/ with {{answer}}.",
        )
    reason = approval_reason_checked(reason, required=False)
    approval_expire_if_overdue(approval)
    with transaction.atomic():
        locked = approval_locked_for_decision(approval)
        scope = approval_scope_checked(locked, scope)
        approval_scope_checked_for_votes(locked, scope)
        if locked.body_hash != body_hash:
            raise AppError(
                ErrorCode.HASH_MISMATCH,
                "The payload changed since you looked at it; review the current payload and "
                "approve its hash.",
                details=[{"path": "/body_hash", "message": f"current hash is {locked.body_hash}"}],
            )
        previous_payload = None
        if payload is None or payload == locked.payload:
            approval_assert_dry_run_passes(locked)  # an edit may mend what the dry run found
        if payload is not None and payload != locked.payload:
            previous_payload = locked.payload
            locked.payload = approval_edited_payload_checked(locked, payload)
            locked.body_hash = approval_body_hash(locked.payload)
            approval_votes_reset(locked)
        if not approval_vote_counts_to_approval(locked, actor, reason, previous_payload):
            return locked
        _approve_locked(locked, actor, scope, reason, previous_payload)
        if scope == ApprovalScope.BATCH:
            _approve_batch(locked, actor)
    return locked


def _approve_locked(
    locked: Approval, actor: AbstractUser, scope: str, reason: str, previous_payload: Any
) -> None:
    locked.approve()
    locked.undo_until = approval_undo_until(locked)
    locked.scope = scope
    approval_decision_record(
        locked,
        action=ApprovalDecision.Action.APPROVE,
        actor=actor,
        audit_as=ApprovalStatus.APPROVED,
        reason=reason,
        scope=scope,
        previous_payload=previous_payload,
    )
    approval_effect_apply(locked, actor)


def _approve_batch(grant: Approval, actor: AbstractUser) -> None:
    """`batch`: every other pending call of the same tool in the same step of the run is
    approved with it, each as it stands (its own payload and hash), each recorded."""
    siblings = (
        Approval.objects.select_for_update()
        .filter(
            run_id=grant.run_id,
            step=grant.step,
            tool=grant.tool,
            kind=ApprovalKind.TOOL_CALL,
            status=ApprovalStatus.PENDING,
        )
        .exclude(pk=grant.pk)
        .order_by("created_at")
    )
    for sibling in siblings:
        if sibling.expires_at <= timezone.now():
            continue  # overdue: the expiry sweep decides it, not the batch
        if approval_required_approvals(sibling) > 1:
            continue  # it needs its own approvers, one vote each
        if dry_run_blocker(sibling.dry_run):
            continue  # its dry run says it cannot succeed: decided on its own
        _approve_locked(
            sibling, actor, ApprovalScope.BATCH, f"Approved with batch {grant.pk}.", None
        )


def approval_reject(*, approval: Approval, actor: AbstractUser, reason: str) -> Approval:
    approval_assert_can_decide(approval=approval, actor=actor)
    reason = approval_reason_checked(reason, required=True)
    approval_expire_if_overdue(approval)
    with transaction.atomic():
        locked = approval_locked_for_decision(approval)
        locked.reject()
        approval_decision_record(
            locked,
            action=ApprovalDecision.Action.REJECT,
            actor=actor,
            audit_as=ApprovalStatus.REJECTED,
            reason=reason,
        )
        approval_effect_apply(locked, actor)
    return locked


def approval_cancel(*, approval: Approval, actor: AbstractUser | None, reason: str) -> Approval:
    """What the approval gated went away; a final approval is left as it is."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.status != ApprovalStatus.PENDING:
        return locked
    locked.cancel()
    locked.reason = reason
    locked.save()
    ApprovalDecision.objects.create(
        approval=locked, action=ApprovalDecision.Action.CANCEL, actor=actor, reason=reason
    )
    events.approval_decided(
        approval=locked, actor=actor, decision=ApprovalStatus.CANCELLED, reason=reason
    )
    return locked


def approval_mark_executed(*, approval: Approval, result: Any) -> None:
    """The approved call was made: the approval is `executed` and carries the call's result
    (MCP shape). Anything no longer approved (undone, or marked already) is left as it is."""
    with transaction.atomic():
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if locked.status == ApprovalStatus.APPROVED:
            locked.mark_executed()
            locked.result = result
            locked.save(update_fields=["status", "result"])
