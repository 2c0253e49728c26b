"""Recording a decision (row, decision row, audit row) and dispatching what it does to the
handler its owner registered in approvals.effects."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from agentstudio.audit import events
from approvals.effects import approval_effect_decided_handler
from approvals.models import Approval, ApprovalDecision, ApprovalStatus


def approval_decision_record(
    locked: Approval,
    *,
    action: str,
    actor: AbstractUser | None,
    audit_as: str,
    reason: str = "",
    scope: str = "",
    previous_payload: Any = None,
) -> None:
    """Records what was just done to `locked` (its transition already applied): who and
    when on the row, a decision row, and an audit row, in the caller's transaction."""
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.reason = reason
    locked.save()
    ApprovalDecision.objects.create(
        approval=locked,
        action=action,
        actor=actor,
        body_hash=locked.body_hash,
        previous_payload=previous_payload,
        reason=reason,
        scope=scope,
    )
    events.approval_decided(approval=locked, actor=actor, decision=audit_as, reason=reason)


def approval_in_undo_window(approval: Approval) -> bool:
    return (
        approval.status == ApprovalStatus.APPROVED
        and approval.undo_until is not None
        and approval.undo_until > timezone.now()
    )


def approval_after_undo_window(approval: Approval) -> None:
    """On commit: look at the approval again when its undo window has closed."""
    from approvals.tasks import approval_undo_window_closed_task  # tasks import the services

    approval_id = str(approval.pk)
    delay = max(0.0, (approval.undo_until - timezone.now()).total_seconds()) + 0.05
    transaction.on_commit(
        lambda: approval_undo_window_closed_task.apply_async((approval_id,), countdown=delay)
    )


def approval_effect_apply(
    approval: Approval, actor: AbstractUser | None, *, window_closed: bool = False
) -> None:
    """What a decision does, by kind, is the registered handler's (promotions activate, run
    approvals move their run, an API call is made); approvals only keeps the undo window: an
    approved call inside it is looked at again when it closes. A kind nobody registered
    raises ApprovalEffectMissing, so the decision's transaction rolls back."""
    handler = approval_effect_decided_handler(approval)
    if approval_in_undo_window(approval):
        approval_after_undo_window(approval)
    handler(approval=approval, actor=actor, window_closed=window_closed)
